package engine

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// seedBuckets fills the engine's aggregates as a week of traffic would:
// per endpoint 120 minute buckets and 166 hour buckets of 50 fields,
// perEndpoint requests spread over them. Queries only read aggregates, so
// their cost depends on buckets and fields, not on stored requests.
func seedBuckets(e *Engine, endpoints int, perEndpoint uint64) {
	now := e.opts.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for ep := range endpoints {
		info := endpointInfo{key: fmt.Sprintf("GET /api/r%d/{id}", ep), method: "GET", pathTemplate: fmt.Sprintf("/api/r%d/{id}", ep)}
		ea := e.aggs.endpoint(info)
		var starts []int64
		for m := range 120 {
			starts = append(starts, now.Add(-time.Duration(m)*time.Minute).Unix()/60*60)
		}
		for h := 2; h < 168; h++ {
			starts = append(starts, now.Add(-time.Duration(h)*time.Hour).Unix()/3600*3600)
		}
		per := perEndpoint / uint64(len(starts))
		for i, s := range starts {
			width := int64(minuteWidth)
			if i >= 120 {
				width = hourWidth
			}
			b := &store.Bucket{Endpoint: info.key, StartUnix: s, WidthSec: width, Method: "GET", PathTemplate: info.pathTemplate,
				FirstSeenNano: s * 1e9, LastSeenNano: s*1e9 + 1,
				Counts: store.EndpointCounts{Requests: per, Compared: per, WithSecondary: per, RawDifferent: per / 10, NoiseDifferent: per / 10},
				Fields: map[string]*store.FieldCounts{}}
			for f := range 50 {
				fc := &store.FieldCounts{Seen: per, NoiseSeen: per}
				if f%10 == 0 {
					d := fc.Differed()
					d.Raw, d.Noise, d.Definite, d.NoiseOnly = per/10, per/10, per/50, per/50
					d.RawKinds[kindValue], d.NoiseKinds[kindValue] = per/10, per/10
				}
				b.Fields[fmt.Sprintf("body.data.f%02d", f)] = fc
			}
			b.AddSignature("body.data.f00"+sigKindSep+sigValue, per/50, maxSignatures)
			ea.buckets[s] = b
		}
	}
}

func benchQueryEngine(b *testing.B) (*Engine, shadowdiffv1.QueryServer) {
	e, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	// 20 endpoints x 50k requests = 1M requests over a week.
	seedBuckets(e, 20, 50000)
	return e, e.QueryServer()
}

// BenchmarkListEndpoints1M is the overview query over a week of 1M
// requests, on 20 endpoints or spread over 1,000. changed=all writes a
// request to every endpoint between two queries, so no cached overview
// serves (the worst case: busy endpoints all changed since the last
// query); changed=none is a query that finds every overview cached.
// since=1h asks for the last hour only, which the all-time sum cannot
// serve, only the endpoints' window sums; sliding moves the hour 5 s
// later with each query, as a console polling every 5 s does (a minute
// bucket leaves it every 12 queries); 1h|24h asks for the last hour and
// the last day in turn, as two consoles would. Besides ns/op, the 99th
// percentile of the queries' times.
func BenchmarkListEndpoints1M(b *testing.B) {
	for _, endpoints := range []int{20, 1000} {
		for _, c := range []struct {
			name             string
			changed          bool
			since            time.Duration
			sliding, withDay bool
		}{{"changed=none", false, 0, false, false}, {"changed=all", true, 0, false, false}, {"changed=none,since=1h", false, time.Hour, false, false},
			{"changed=all,since=1h", true, time.Hour, false, false}, {"changed=all,since=1h,sliding", true, time.Hour, true, false},
			{"changed=all,since=1h|24h", true, time.Hour, false, true}} {
			b.Run(fmt.Sprintf("endpoints=%d/%s", endpoints, c.name), func(b *testing.B) {
				e, err := Open(b.TempDir(), Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				seedBuckets(e, endpoints, uint64(1_000_000/endpoints))
				q, ctx := e.QueryServer(), context.Background()
				req := &shadowdiffv1.ListEndpointsRequest{}
				from := time.Now().Add(-c.since)
				if c.since > 0 {
					req.Range = &shadowdiffv1.TimeRange{Start: timestamppb.New(from)}
				}
				if _, err := q.ListEndpoints(ctx, req); err != nil { // the cached sums, built once after a start
					b.Fatal(err)
				}
				took := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if c.changed {
						b.StopTimer()
						touchEndpoints(e)
						b.StartTimer()
					}
					if c.sliding {
						req.Range.Start = timestamppb.New(from.Add(time.Duration(i) * 5 * time.Second))
					}
					if c.withDay { // another client on the last day, in turn
						req.Range.Start = timestamppb.New(from.Add(time.Duration(i%2) * -23 * time.Hour))
					}
					t0 := time.Now()
					resp, err := q.ListEndpoints(ctx, req)
					took = append(took, time.Since(t0))
					if err != nil || len(resp.Endpoints) != endpoints {
						b.Fatalf("%d endpoints, %v", len(resp.GetEndpoints()), err)
					}
				}
				b.StopTimer()
				slices.Sort(took)
				b.ReportMetric(float64(took[len(took)*99/100])/1e6, "p99-ms")
			})
		}
	}
}

// BenchmarkListEndpointsUnderIngest is the overview over 1,000 endpoints
// (a week of buckets each) while writers ingest batches of 21 requests'
// digests (63) as fast as they can, one query every 20 ms, as a console
// or an alerting script might poll a busy collector. One writer leaves
// the other core to the queries; with writers=4 the machine is saturated
// and queries wait their turn for a core.
func BenchmarkListEndpointsUnderIngest(b *testing.B) {
	for _, writers := range []int{1, 4} {
		for _, since := range []time.Duration{0, time.Hour} {
			b.Run(fmt.Sprintf("writers=%d/since=%s", writers, since), func(b *testing.B) {
				benchQueriesUnderIngest(b, writers, since)
			})
		}
	}
}

func benchQueriesUnderIngest(b *testing.B, writers int, since time.Duration) {
	e, err := Open(b.TempDir(), Options{PairWindow: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	seedBuckets(e, 1000, 1000)
	q, ctx := e.QueryServer(), context.Background()
	req := &shadowdiffv1.ListEndpointsRequest{}
	if since > 0 {
		req.Range = &shadowdiffv1.TimeRange{Start: timestamppb.New(time.Now().Add(-since))}
	}
	if _, err := q.ListEndpoints(ctx, req); err != nil {
		b.Fatal(err)
	}
	// The all-time overviews too, as Open makes them for buckets loaded
	// from the store (seedBuckets comes after it): else the watch loop
	// computes all 1,000 while the queries of a range are measured.
	if _, err := q.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{}); err != nil {
		b.Fatal(err)
	}
	clk := newClock()
	var stop atomic.Bool
	var ingested atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				batch := make([]*shadowdiffv1.ResponseDigest, 0, 63)
				for k := range 21 {
					tr := realisticTriple(w*1_000_000_000+i*21+k, clk)
					for _, d := range tr {
						d.StartUnixNanos = time.Now().UnixNano()
					}
					batch = append(batch, tr...)
				}
				if _, _, err := e.Ingest(ctx, batch); err != nil {
					b.Error(err)
					return
				}
				ingested.Add(int64(len(batch)))
			}
		})
	}
	defer func() {
		stop.Store(true)
		wg.Wait()
	}()
	time.Sleep(200 * time.Millisecond) // writers under way
	took := make([]time.Duration, 0, b.N)
	n0, t0 := ingested.Load(), time.Now()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := q.ListEndpoints(ctx, req); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100])/1e6, "p99-ms")
	b.ReportMetric(float64(ingested.Load()-n0)/time.Since(t0).Seconds(), "digests/s")
}

// touchEndpoints counts a compared request in every endpoint's current
// bucket, as closing one does: every field of the bucket was seen.
func touchEndpoints(e *Engine) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ea := range e.aggs.eps {
		b := e.aggs.bucket(endpointInfo{key: ea.key, method: ea.method, pathTemplate: ea.pathTemplate}, e.opts.Now())
		b.Counts.Requests++
		b.Counts.Compared++
		for _, fc := range b.Fields {
			fc.Seen++
		}
	}
}

func BenchmarkListFields1M(b *testing.B) {
	_, q := benchQueryEngine(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := q.ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: "GET /api/r3/{id}"})
		if err != nil || len(resp.Fields) != 50 {
			b.Fatalf("%d fields, %v", len(resp.GetFields()), err)
		}
	}
}

// BenchmarkAggregateMemory reports the heap held by a week of one busy
// endpoint's aggregates (seedBuckets: 286 buckets of 50 fields, of which
// 5 differ).
func BenchmarkAggregateMemory(b *testing.B) {
	const endpoints = 50
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e, err := Open(b.TempDir(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		seedBuckets(e, endpoints, 10000)
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/endpoints, "heap-bytes/endpoint-week")
		e.Close()
		b.StartTimer()
	}
}

// BenchmarkPendingMemory reports the heap held per pending request (a
// 40-field primary digest waiting for its candidate).
func BenchmarkPendingMemory(b *testing.B) {
	// messages: digests as Ingest takes them; encoded: as the server
	// passes them (IngestEncoded: body fields read from the encoding).
	for _, encoded := range []bool{false, true} {
		b.Run(map[bool]string{false: "from=messages", true: "from=encoded"}[encoded], func(b *testing.B) {
			benchPendingMemory(b, encoded)
		})
	}
}

func benchPendingMemory(b *testing.B, encoded bool) {
	const n = 10000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		clk := newClock()
		e, err := Open(b.TempDir(), Options{Now: clk.Now, PairWindow: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		// The decoded digests count: the engine keeps them until paired.
		batch := make([]*shadowdiffv1.ResponseDigest, 0, n)
		var wire [][]byte
		for k := range n {
			d := realisticTriple(k, clk)[0]
			d.PairingKey = fmt.Sprint("pending-", k)
			if encoded {
				w, err := d.MarshalVT()
				if err != nil {
					b.Fatal(err)
				}
				wire = append(wire, w)
				d.Body.Fields = nil
			}
			batch = append(batch, d)
		}
		b.StartTimer()
		for k := 0; k < n; k += 500 {
			var err error
			if encoded {
				_, _, err = e.IngestEncoded(context.Background(), batch[k:k+500], wire[k:k+500])
			} else {
				_, _, err = e.Ingest(context.Background(), batch[k:k+500])
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		batch, wire = nil, nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-bytes/pending")
		e.Close()
		b.StartTimer()
	}
}
