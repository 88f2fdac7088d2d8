package shadowdiffv1

// NeverJudged reports whether no amount of traffic will give the endpoint a
// verdict: it has side effects only (the shadows' filters answer them, so
// nothing is compared), it is an overflow endpoint (unrelated paths past the
// collector's --max-endpoints), or it gets no more requests (superseded_by)
// and had too few for a verdict. The collector's verdict for such an
// endpoint is INSUFFICIENT_DATA with the reason; tools show it as SKIPPED,
// as the CLI's gate does. A superseded endpoint with a verdict keeps it.
// Written by hand, beside the generated code.
func (e *EndpointSummary) NeverJudged() bool {
	return e.GetOverflow() || e.GetCompared() == 0 && e.GetSkippedSideEffect() > 0 ||
		e.GetSupersededBy() != "" && e.GetVerdict() == Verdict_VERDICT_INSUFFICIENT_DATA
}
