package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// A pairing key sent again once the pairer forgot it (a client retry that
// reuses its x-request-id, a collision) is a new request: GetRequest
// returns it, with its own full digests when it is sampled, and the samples
// of the request it replaced go with that request's record. The full
// record of the first request was kept and read first, so the key kept
// answering with the first request, and the samples of the second
// endpoint showed the first endpoint's request.
func TestReusedKeyReplacesRequest(t *testing.T) {
	diff := func(key, path, field string) []*shadowdiffv1.ResponseDigest {
		return []*shadowdiffv1.ResponseDigest{
			dg(key, primary, path, 200, f{field, tStr, sText, "p"}),
			dg(key, candidate, path, 200, f{field, tStr, sText, "c"}),
		}
	}
	same := func(key, path, field string) []*shadowdiffv1.ResponseDigest {
		return []*shadowdiffv1.ResponseDigest{
			dg(key, primary, path, 200, f{field, tStr, sText, "p"}),
			dg(key, candidate, path, 200, f{field, tStr, sText, "p"}),
		}
	}
	for _, tc := range []struct {
		name string
		// second is the second request of key K, at path /b or /a.
		second  []*shadowdiffv1.ResponseDigest
		path    string // of the second request
		field   string // its difference, "" when it has none
		sampled bool   // the second request is a sample
	}{
		{"other endpoint", diff("K", "/b", "y"), "/b", "body.y", true},
		{"same endpoint", diff("K", "/a", "x"), "/a", "body.x", true},
		{"not sampled", same("K", "/b", "y"), "/b", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, clk := t.TempDir(), newClock()
			opts := Options{PairWindow: 200 * time.Millisecond}
			e := openEngine(t, dir, clk, opts)
			ingest(t, e, diff("K", "/a", "x")...) // at the clock's time
			first := clk.Now()
			clk.Add(1500 * time.Millisecond) // past the recent keys' windows
			for _, d := range tc.second {
				at(clk, d)
			}
			ingest(t, e, tc.second...)
			second := clk.Now()
			if err := e.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			check := func(when string) {
				t.Helper()
				qs := e.QueryServer()
				ctx := context.Background()
				rec, err := qs.GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: "K"})
				if err != nil {
					t.Fatalf("%s: GetRequest(K): %v", when, err)
				}
				if got, want := describe(rec), fmt.Sprintf("GET %s at %d diff %s full %v", tc.path, second.UnixNano(), tc.field, tc.sampled); got != want {
					t.Errorf("%s: GetRequest(K) = %s, want %s", when, got, want)
				}
				for _, ep := range []string{"GET /a", "GET /b"} {
					if ep == "GET /b" && tc.path != "/b" {
						continue // no request
					}
					resp, err := qs.ListSamples(ctx, &shadowdiffv1.ListSamplesRequest{Endpoint: ep})
					if err != nil {
						t.Fatalf("%s: ListSamples(%s): %v", when, ep, err)
					}
					var got []string
					for _, s := range resp.Samples {
						got = append(got, describe(s))
					}
					var want []string
					if "GET "+tc.path == ep && tc.sampled {
						want = append(want, fmt.Sprintf("%s at %d diff %s full true", ep, second.UnixNano(), tc.field))
					}
					// The first request went with its record.
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("%s: samples of %s = %v, want %v (first request at %d)", when, ep, got, want, first.UnixNano())
					}
				}
			}
			check("before a restart")
			e = reopen(t, e, dir, clk, opts)
			defer e.Close()
			check("after a restart")
		})
	}
}

// describe names a record's request: endpoint, time, raw difference, and
// whether it has full digests.
func describe(rec *shadowdiffv1.RequestRecord) string {
	path := ""
	for _, d := range rec.Differences {
		if d.Comparison == shadowdiffv1.Comparison_COMPARISON_RAW {
			path = d.Path
		}
	}
	return fmt.Sprintf("%s at %d diff %s full %v", rec.Endpoint, rec.GetTime().AsTime().UnixNano(), path,
		len(rec.GetCandidate().GetBody().GetFields()) > 0)
}

// staleSamples answers Samples as a store that read the refs before a
// later request took their key (or one that kept them, as earlier versions
// did): with a ref of the first request, at its time and endpoint.
type staleSamples struct {
	store.Store
	stale store.SampleRef
}

func (s *staleSamples) Samples(q store.SampleQuery) ([]store.SampleRef, error) {
	refs, err := s.Store.Samples(q)
	if q.Endpoint == s.stale.Endpoint {
		refs = append(refs, s.stale)
	}
	return refs, err
}

// A sample whose key a later request took lists nothing rather than that
// request, of another endpoint.
func TestSampleOfReplacedRequestNotShown(t *testing.T) {
	clk := newClock()
	ss := &staleSamples{}
	e := openOnStore(t, t.TempDir(), func(s store.Store) store.Store { ss.Store = s; return ss },
		Options{Now: clk.Now, PairWindow: 200 * time.Millisecond})
	defer e.Close()
	ingest(t, e, at(clk, dg("K", primary, "/a", 200, f{"x", tStr, sText, "p"})), at(clk, dg("K", candidate, "/a", 200, f{"x", tStr, sText, "c"})))
	ss.stale = store.SampleRef{Endpoint: "GET /a", Path: "body.x", TimeNano: clk.Now().UnixNano(), Key: "K"}
	clk.Add(1500 * time.Millisecond)
	ingest(t, e, at(clk, dg("K", primary, "/b", 200, f{"y", tStr, sText, "p"})), at(clk, dg("K", candidate, "/b", 200, f{"y", tStr, sText, "c"})))
	resp, err := e.QueryServer().ListSamples(context.Background(), &shadowdiffv1.ListSamplesRequest{Endpoint: "GET /a"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range resp.Samples {
		t.Errorf("sample of GET /a: %s", describe(s))
	}
}
