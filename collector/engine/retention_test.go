package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Retention deletes an aggregate bucket once it ended by the cut, and
// records and samples once their time is before it: a request inside the
// retention keeps its counts with its record and samples, in memory and
// in the store (after a restart). Buckets went when they started before
// the cut, up to a bucket's width (an hour once rolled up) too early: the
// endpoint lost the request's counts, and with its last bucket its name,
// so its samples were not found.
func TestRetentionKeepsCountsOfRequestsItKeeps(t *testing.T) {
	for _, tc := range []struct {
		name      string
		retention time.Duration
		width     time.Duration // of the request's bucket at the cut
	}{
		{"minute bucket", time.Minute, time.Minute},
		{"hour bucket", 3 * time.Hour, time.Hour}, // rolled up after two hours
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, clk := t.TempDir(), newClock() // the clock starts on the hour
			opts := Options{Retention: tc.retention}
			start := clk.Now()
			e := openEngine(t, dir, clk, opts)
			clk.Add(10 * time.Second)
			ingest(t, e,
				at(clk, dg("k1", primary, "/users/1", 200, f{"x", tStr, sText, "p"})),
				at(clk, dg("k1", secondary, "/users/1", 200, f{"x", tStr, sText, "p"})),
				at(clk, dg("k1", candidate, "/users/1", 200, f{"x", tStr, sText, "c"})))

			// The cut 5 s into the bucket: the request (at 10 s) is kept.
			clk.Add(start.Add(tc.retention + 5*time.Second).Sub(clk.Now()))
			e = reopen(t, e, dir, clk, opts)
			if err := e.maintain(); err != nil {
				t.Fatal(err)
			}
			wantKept(t, e, "inside the retention", true)
			e = reopen(t, e, dir, clk, opts)
			wantKept(t, e, "inside the retention, after a restart", true)

			// The cut at the bucket's end: all of it goes.
			clk.Add(start.Add(tc.retention + tc.width).Sub(clk.Now()))
			if err := e.maintain(); err != nil {
				t.Fatal(err)
			}
			wantKept(t, e, "past the retention", false)
			e = reopen(t, e, dir, clk, opts)
			defer e.Close()
			wantKept(t, e, "past the retention, after a restart", false)
		})
	}
}

// wantKept checks that the request k1 of GET /users/{id} has its counts,
// record and sample, or that none is left.
func wantKept(t *testing.T, e *Engine, when string, kept bool) {
	t.Helper()
	ctx := context.Background()
	qs := e.QueryServer()
	var got []string
	if ep := endpointsOf(t, e)["GET /users/{id}"]; ep != nil {
		got = append(got, fmt.Sprintf("requests=%d", ep.Requests))
	}
	if _, err := qs.GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: "k1"}); err == nil {
		got = append(got, "record")
	} else if status.Code(err) != codes.NotFound {
		t.Fatalf("%s: GetRequest: %v", when, err)
	}
	resp, err := qs.ListSamples(ctx, &shadowdiffv1.ListSamplesRequest{Endpoint: "GET /users/{id}"})
	if err == nil {
		got = append(got, fmt.Sprintf("samples=%d", len(resp.Samples)))
	} else if status.Code(err) != codes.NotFound {
		t.Fatalf("%s: ListSamples: %v", when, err)
	}
	want := "[]"
	if kept {
		want = "[requests=1 record samples=1]"
	}
	if fmt.Sprint(got) != want {
		t.Errorf("%s: %v, want %s", when, got, want)
	}
}
