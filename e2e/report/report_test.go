package report

import (
	"strings"
	"testing"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// The traffic line names what was not compared as the CLI and the query
// API do ("fingerprint mismatches").
func TestWriteTrafficLine(t *testing.T) {
	r := &Report{Sent: 10, Endpoints: &shadowdiffv1.ListEndpointsResponse{Totals: &shadowdiffv1.Totals{
		Requests: 10, Compared: 5, SkippedSideEffect: 2, Incomplete: 1, FingerprintMismatch: 2, Duplicates: 3, DroppedByFilters: 4,
	}}}
	var b strings.Builder
	r.Write(&b)
	want := "Traffic: 10 sent, 10 seen by the collector: 5 compared, 2 side effects answered by the shadows' filters,\n" +
		"  1 incomplete, 2 fingerprint mismatches, 3 duplicates, 4 digests dropped by filters\n"
	if !strings.HasSuffix(b.String(), want) {
		t.Errorf("report ends with\n%s\nwant\n%s", b.String()[strings.LastIndex(b.String(), "\nTraffic")+1:], want)
	}
}

func TestShapeNote(t *testing.T) {
	for n, want := range map[uint64]string{0: "same shape", 1: "1 shape change", 2: "2 shape changes"} {
		if got := shapeNote(&shadowdiffv1.FieldStats{ShapeDifferences: n}); got != want {
			t.Errorf("shapeNote(%d) = %q, want %q", n, got, want)
		}
	}
}
