package engine

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// realisticTriple builds the three digests of one request with 40 body
// fields (ids, prices, names, a list of items, an always-noisy timestamp,
// a request id) and 8 headers; the candidate changes one price.
func realisticTriple(i int, clk *clock) []*shadowdiffv1.ResponseDigest {
	var out []*shadowdiffv1.ResponseDigest
	for r, role := range []shadowdiffv1.Role{primary, secondary, candidate} {
		fs := []f{{"", tObj, 0, "root"}, {"meta", tObj, 0, "m"}, {"meta.generated_at", tStr, sTime, fmt.Sprint(i, r)},
			{"meta.request_id", tStr, shadowdiffv1.ValueShape_VALUE_SHAPE_UUID, fmt.Sprint("rid", i, r)}, {"items", tArr, 0, "a,b,c"}}
		for k := range 30 {
			fs = append(fs, f{fmt.Sprintf("order.f%02d", k), tStr, sText, fmt.Sprint("v", k)})
		}
		price := "9.99"
		if role == candidate && i%10 == 0 {
			price = "10.00"
		}
		fs = append(fs, f{"order", tObj, 0, "o"}, f{"order.price", tNum, shadowdiffv1.ValueShape_VALUE_SHAPE_DECIMAL, price},
			f{"items[]", tObj, 0, "x"}, f{"items[].sku", tStr, sText, "s"}, f{"items[].qty", tNum, sInt, "1"})
		d := withHeaders(dg(fmt.Sprint("req-", i), role, fmt.Sprint("/api/orders/", i%1000), 200, fs...),
			"cache-control", "no-cache", "content-length", "2048", "content-type", "application/json",
			"date", fmt.Sprint(i, r), "etag", "e", "server", "shop", "vary", "accept", "x-trace", fmt.Sprint(i, r))
		d.StartUnixNanos = clk.Now().UnixNano()
		d.Workload = &shadowdiffv1.Workload{Name: "shop", Namespace: "demo", Version: "v1", Instance: "pod-1"}
		out = append(out, d)
	}
	return out
}

// BenchmarkIngestTriple ingests one 40-field triple per call (three digests).
func BenchmarkIngestTriple(b *testing.B) {
	clk := newClock()
	e, err := Open(b.TempDir(), Options{Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	triples := make([][]*shadowdiffv1.ResponseDigest, 4096)
	for i := range triples {
		triples[i] = realisticTriple(i, clk)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tr := triples[i%len(triples)]
		for _, d := range tr {
			d.PairingKey = fmt.Sprint("req-", i)
		}
		if _, _, err := e.Ingest(ctx, tr); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(3*b.N)/b.Elapsed().Seconds(), "digests/s")
}

// BenchmarkIngestBatched ingests as sidecars send: batches of 64 digests
// of one role, so most requests wait in the store for their other roles.
func BenchmarkIngestBatched(b *testing.B) {
	const perBatch = 64
	clk := newClock()
	e, err := Open(b.TempDir(), Options{Now: clk.Now, PairWindow: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	pool := make([][]*shadowdiffv1.ResponseDigest, 1024)
	for i := range pool {
		pool[i] = realisticTriple(i, clk)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	digests := 0
	for i := 0; i < b.N; i++ {
		// Each iteration sends one batch per role for perBatch requests;
		// fresh messages, as the gRPC server decodes them.
		b.StopTimer()
		var batches [3][]*shadowdiffv1.ResponseDigest
		for role := range 3 {
			for k := range perBatch {
				d := proto.Clone(pool[(i*perBatch+k)%len(pool)][role]).(*shadowdiffv1.ResponseDigest)
				d.PairingKey = fmt.Sprint("req-", i, "-", k)
				batches[role] = append(batches[role], d)
			}
		}
		b.StartTimer()
		for _, batch := range batches {
			if _, _, err := e.Ingest(ctx, batch); err != nil {
				b.Fatal(err)
			}
			digests += len(batch)
		}
	}
	b.ReportMetric(float64(digests)/b.Elapsed().Seconds(), "digests/s")
}

// BenchmarkCompareAndAggregate is the CPU part alone: diff a triple and
// add it to a bucket, as finalize does (flat body fields, reused
// comparison).
func BenchmarkCompareAndAggregate(b *testing.B) {
	tr := realisticTriple(0, newClock())
	var rs [3]response
	for i, d := range tr {
		sortDigest(d) // as Ingest does
		rs[i], _ = responseOf(d, nil)
	}
	var bucket = newAggregates().bucket(endpointInfo{key: "GET /x"}, time.Unix(0, 0))
	var cmp comparison
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		cmp.compare(&rs[0], &rs[1], &rs[2])
		countCompared(bucket, &rs[0], &cmp, testLimits)
	}
	b.ReportMetric(float64(3*b.N)/b.Elapsed().Seconds(), "digests/s")
}

// BenchmarkIngestConcurrent: 8 streams at once, as 8 sidecars would send;
// their batches share transactions (group commit).
func BenchmarkIngestConcurrent(b *testing.B) {
	const perBatch = 64
	clk := newClock()
	e, err := Open(b.TempDir(), Options{Now: clk.Now, PairWindow: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	pool := make([][]*shadowdiffv1.ResponseDigest, 256)
	for i := range pool {
		pool[i] = realisticTriple(i, clk)
		for _, d := range pool[i] {
			sortDigest(d)
		}
	}
	var worker atomic.Int64
	var digests atomic.Int64
	b.SetParallelism(4) // 4 x GOMAXPROCS(2) = 8 streams
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := worker.Add(1)
		ctx := context.Background()
		for i := 0; pb.Next(); i++ {
			for role := range 3 {
				batch := make([]*shadowdiffv1.ResponseDigest, 0, perBatch)
				for k := range perBatch {
					src := pool[(i*perBatch+k)%len(pool)][role]
					// A light copy: same entries, own key (the engine only reads them).
					d := &shadowdiffv1.ResponseDigest{PairingKey: fmt.Sprint("w", w, "-", i, "-", k), Role: src.Role,
						Workload: src.Workload, Endpoint: src.Endpoint, Request: src.Request, Status: src.Status,
						Headers: src.Headers, Body: src.Body, StartUnixNanos: src.StartUnixNanos, Shadow: src.Shadow}
					batch = append(batch, d)
				}
				if _, _, err := e.Ingest(ctx, batch); err != nil {
					b.Error(err)
					return
				}
				digests.Add(int64(len(batch)))
			}
		}
	})
	b.ReportMetric(float64(digests.Load())/b.Elapsed().Seconds(), "digests/s")
}
