// Package report reads a finished run back from the collector's query API
// and prints it the way the demo shows it: endpoints, significant fields,
// the noise that was filtered out and the traffic that was not compared.
package report

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Report is a snapshot of the collector's view of a run.
type Report struct {
	Sent      uint64
	Endpoints *shadowdiffv1.ListEndpointsResponse
	// Fields by endpoint key, noise included.
	Fields map[string][]*shadowdiffv1.FieldStats
}

// Accounted is how many requests the collector has placed somewhere:
// compared, skipped, incomplete or mismatched.
func Accounted(t *shadowdiffv1.Totals) uint64 {
	return t.GetCompared() + t.GetSkippedSideEffect() + t.GetIncomplete() + t.GetFingerprintMismatch()
}

// Collect waits until the collector has accounted for sent requests (or
// wait passes: the report then shows what arrived) and reads the report.
func Collect(ctx context.Context, q shadowdiffv1.QueryClient, sent uint64, wait time.Duration) (*Report, error) {
	deadline := time.Now().Add(wait)
	var eps *shadowdiffv1.ListEndpointsResponse
	for {
		var err error
		eps, err = q.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{})
		if err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		if Accounted(eps.GetTotals()) >= sent || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	rep := &Report{Sent: sent, Endpoints: eps, Fields: map[string][]*shadowdiffv1.FieldStats{}}
	for _, ep := range eps.GetEndpoints() {
		fields, err := q.ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: ep.GetEndpoint(), IncludeNoise: true})
		if err != nil {
			return nil, fmt.Errorf("list fields of %s: %w", ep.GetEndpoint(), err)
		}
		rep.Fields[ep.GetEndpoint()] = fields.GetFields()
	}
	return rep, nil
}

// Significant returns the fields of an endpoint the statistical decision
// calls regressions.
func (r *Report) Significant(endpoint string) []*shadowdiffv1.FieldStats {
	var out []*shadowdiffv1.FieldStats
	for _, f := range r.Fields[endpoint] {
		if f.GetSignificant() {
			out = append(out, f)
		}
	}
	return out
}

// Noise returns the fields of an endpoint that differed but are noise:
// they differ between primary and secondary as often as between primary
// and candidate, or a rule covers them.
func (r *Report) Noise(endpoint string) []*shadowdiffv1.FieldStats {
	var out []*shadowdiffv1.FieldStats
	for _, f := range r.Fields[endpoint] {
		if !f.GetSignificant() && (f.GetNoiseDifferences() > 0 || f.GetSuppressedByRule() != "") {
			out = append(out, f)
		}
	}
	return out
}

// Write prints the report.
func (r *Report) Write(w io.Writer) {
	eps := append([]*shadowdiffv1.EndpointSummary(nil), r.Endpoints.GetEndpoints()...)
	sort.SliceStable(eps, func(i, j int) bool { return eps[i].GetDifferenceRate() > eps[j].GetDifferenceRate() })

	fmt.Fprintln(w, "Endpoints (ranked by difference rate)")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ENDPOINT\tREQUESTS\tCOMPARED\tDIFFERENT\tNOISE\tVERDICT\tRATING")
	for _, ep := range eps {
		verdict := enumName(ep.GetVerdict().String(), "VERDICT_")
		if ep.NeverJudged() {
			verdict = "SKIPPED" // as the CLI says
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%.1f%%\t%.1f%%\t%s\t%s\n", ep.GetEndpoint(), ep.GetRequests(), ep.GetCompared(),
			100*ep.GetDifferenceRate(), 100*ep.GetNoiseRate(), verdict, enumName(ep.GetRating().String(), "RATING_"))
	}
	tw.Flush()

	fmt.Fprintln(w, "\nRegressions (fields v2 changes beyond v1's own noise)")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ENDPOINT\tFIELD\tKIND\tDIFFERED\tNOISE\tCONFIDENCE\tDIFFY")
	found := false
	for _, ep := range eps {
		for _, f := range r.Significant(ep.GetEndpoint()) {
			found = true
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d/%d\t%d\t%.4f\t%s\n", ep.GetEndpoint(), f.GetPath(), kinds(f.GetRawKinds()),
				f.GetRawDifferences(), f.GetTotal(), f.GetNoiseDifferences(), f.GetConfidence(), yesNo(f.GetDiffyReported()))
		}
	}
	tw.Flush()
	if !found {
		fmt.Fprintln(w, "  none")
	}

	fmt.Fprintln(w, "\nNoise filtered out (differs between the two v1 copies too)")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ENDPOINT\tFIELD\tNOISE\tCLASS\tBY SHAPE")
	for _, ep := range eps {
		for _, f := range r.Noise(ep.GetEndpoint()) {
			fmt.Fprintf(tw, "  %s\t%s\t%d/%d\t%s\t%s\n", ep.GetEndpoint(), f.GetPath(), f.GetNoiseDifferences(), f.GetTotal(),
				strings.ToLower(enumName(f.GetNoiseClass().String(), "NOISE_CLASS_")), shapeNote(f))
		}
	}
	tw.Flush()

	t := r.Endpoints.GetTotals()
	fmt.Fprintf(w, "\nTraffic: %d sent, %d seen by the collector: %d compared, %d side effects answered by the shadows' filters,\n"+
		"  %d incomplete, %d fingerprint mismatches, %d duplicates, %d digests dropped by filters\n",
		r.Sent, t.GetRequests(), t.GetCompared(), t.GetSkippedSideEffect(), t.GetIncomplete(),
		t.GetFingerprintMismatch(), t.GetDuplicates(), t.GetDroppedByFilters())
}

func shapeNote(f *shadowdiffv1.FieldStats) string {
	switch n := f.GetShapeDifferences(); n {
	case 0:
		return "same shape"
	case 1:
		return "1 shape change"
	default:
		return fmt.Sprintf("%d shape changes", n)
	}
}

func kinds(kc []*shadowdiffv1.KindCount) string {
	var names []string
	for _, k := range kc {
		names = append(names, strings.ToLower(enumName(k.GetKind().String(), "DIFF_KIND_")))
	}
	return strings.Join(names, ",")
}

func enumName(s, prefix string) string {
	if s == prefix+"UNSPECIFIED" {
		return "-"
	}
	return strings.TrimPrefix(s, prefix)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
