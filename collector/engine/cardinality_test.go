package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// distinctPaths yields the path of request i: a new product slug for every
// other request, a one-off scanner path for the rest; none repeats.
func distinctPaths() func(i int) string {
	rng := rand.New(rand.NewPCG(5, 6))
	return func(i int) string {
		if i%2 == 0 {
			return fmt.Sprintf("/products/item-%d-%x", i, rng.Uint32())
		}
		return fmt.Sprintf("/%x/%x.php", rng.Uint32(), rng.Uint32())
	}
}

// ingestDistinct ingests n compared requests (primary and candidate), each
// to a path never seen before, in batches as a stream would bring them.
func ingestDistinct(tb testing.TB, e *Engine, clk *clock, n int) {
	tb.Helper()
	path := distinctPaths()
	const perBatch = 256
	batch := make([]*shadowdiffv1.ResponseDigest, 0, 2*perBatch)
	for i := range n {
		p := path(i)
		key := fmt.Sprint("d-", i)
		batch = append(batch, at(clk, dg(key, primary, p, 200)), at(clk, dg(key, candidate, p, 200)))
		if len(batch) == cap(batch) || i == n-1 {
			if acc, rej, err := e.Ingest(context.Background(), batch); err != nil || len(rej) > 0 || acc != len(batch) {
				tb.Fatalf("ingest: %d of %d, %v, %v", acc, len(batch), rej, err)
			}
			batch = batch[:0]
		}
	}
}

// 100,000 requests to distinct paths, half of them slugs: the slugs are
// learned into one endpoint, the scanner paths fill the cap and overflow,
// and every structure kept per path or endpoint stays within its bound.
func TestDistinctPathsStayBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 requests")
	}
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	ingestDistinct(t, e, clk, 100_000)
	eps := endpointsOf(t, e)
	// The cap, plus the learned rule's endpoint and the overflow one.
	if len(eps) > DefaultMaxEndpoints+2 {
		t.Errorf("%d endpoints, want at most %d", len(eps), DefaultMaxEndpoints+2)
	}
	if got := eps["GET /products/{slug}"].GetRequests(); got < 49_000 {
		t.Errorf("GET /products/{slug}: %d requests, want the slugs past the threshold", got)
	}
	if got := eps["GET {other}"].GetRequests(); got < 49_000-DefaultMaxEndpoints {
		t.Errorf("GET {other}: %d requests", got)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	m := e.endpoints
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.learner
	if len(l.groups) > maxLearnGroups || l.values > maxLearnValues || len(m.cache) > maxEndpointCache || len(m.reserved) > DefaultMaxEndpoints {
		t.Errorf("learner %d groups, %d values; cache %d; reserved %d", len(l.groups), l.values, len(m.cache), len(m.reserved))
	}
}

// BenchmarkDistinctPaths ingests one request per iteration, each to a new
// path, and reports the endpoints at the end and the heap kept per
// request: with the defaults (learning and the cap) against neither.
func BenchmarkDistinctPaths(b *testing.B) {
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"defaults", Options{}},
		{"unbounded", Options{AutoTemplateThreshold: -1, MaxEndpoints: -1}},
	} {
		b.Run(c.name, func(b *testing.B) {
			clk := newClock()
			c.opts.Now = clk.Now
			e, err := Open(b.TempDir(), c.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			ingestDistinct(b, e, clk, b.N)
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			e.mu.RLock()
			b.ReportMetric(float64(len(e.aggs.eps)), "endpoints")
			e.mu.RUnlock()
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heap-B/req")
		})
	}
}

// BenchmarkEndpointOfNewIDs names requests whose paths differ by an id
// only: every one misses the endpoint cache, so each pays for learning and
// the cap (on) or not (off).
func BenchmarkEndpointOfNewIDs(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  mapperConfig
	}{
		{"off", mapperConfig{}},
		{"on", mapperConfig{learnThreshold: DefaultAutoTemplateThreshold, maxEndpoints: DefaultMaxEndpoints}},
	} {
		b.Run(c.name, func(b *testing.B) {
			m := newEndpointMapper(c.cfg, newAggregates())
			ds := make([]*shadowdiffv1.ResponseDigest, 4096)
			for i := range ds {
				p := fmt.Sprintf("/api/orders/%d/items", 1_000_000+i)
				ds[i] = &shadowdiffv1.ResponseDigest{Endpoint: &shadowdiffv1.EndpointRef{Method: "GET", Path: p}}
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if i%len(ds) == 0 {
					m.forget() // misses again
				}
				m.of(ds[i%len(ds)])
			}
		})
	}
}
