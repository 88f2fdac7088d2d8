package shadowdiffv1

// NeverJudged reports whether no amount of traffic will give the endpoint a
// verdict: it has side effects only (the shadows' filters answer them, so
// nothing is compared), it is an overflow endpoint (unrelated paths past the
// collector's --max-endpoints), or a rule now names its paths
// (superseded_by). The collector's verdict for such an endpoint is
// INSUFFICIENT_DATA with the reason; tools show it as SKIPPED, as the CLI's
// gate does. Written by hand, beside the generated code.
func (e *EndpointSummary) NeverJudged() bool {
	return e.GetOverflow() || e.GetSupersededBy() != "" || e.GetCompared() == 0 && e.GetSkippedSideEffect() > 0
}
