package engine

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// fiftyFieldTriple is realisticTriple with 50 body fields per digest (the
// issue's reference size): 40 order fields instead of 30.
func fiftyFieldTriple(i int, clk *clock) []*shadowdiffv1.ResponseDigest {
	tr := realisticTriple(i, clk)
	for _, d := range tr {
		for k := 30; k < 40; k++ {
			x := f{fmt.Sprintf("order.f%02d", k), tStr, sText, fmt.Sprint("v", k)}
			d.Body.Fields = append(d.Body.Fields, entryOf(x))
		}
	}
	return tr
}

// wirePool holds encoded digests per role, as the gRPC server receives
// them, and their encodings without body fields, which the server decodes
// for the engine: the benchmark decodes them for every batch, so each
// batch is made of fresh messages that the engine may keep.
type wirePool struct {
	wire, light [numRoles][][]byte
}

func newWirePool(tb testing.TB, n int, clk *clock) *wirePool {
	var p wirePool
	for i := range n {
		for _, d := range fiftyFieldTriple(i, clk) {
			if n := len(d.Body.Fields); n != 50 {
				tb.Fatalf("digest has %d body fields, want 50", n)
			}
			data, err := d.MarshalVT()
			if err != nil {
				tb.Fatal(err)
			}
			d.Body.Fields = nil
			light, err := d.MarshalVT()
			if err != nil {
				tb.Fatal(err)
			}
			p.wire[d.Role] = append(p.wire[d.Role], data)
			p.light[d.Role] = append(p.light[d.Role], light)
		}
	}
	return &p
}

// batch decodes perBatch digests of a role for requests prefix-0 ...
// without their body fields and returns them with their encodings (as the
// gRPC server passes them;
// the pairing key is set after decoding, so the stored digests of a role
// share their keys: the benchmark does not restart).
func (p *wirePool) batch(tb testing.TB, role shadowdiffv1.Role, prefix string, first, perBatch int) ([]*shadowdiffv1.ResponseDigest, [][]byte) {
	out := make([]*shadowdiffv1.ResponseDigest, perBatch)
	wire := make([][]byte, perBatch)
	for k := range out {
		at := (first + k) % len(p.wire[role])
		wire[k] = p.wire[role][at]
		d := &shadowdiffv1.ResponseDigest{}
		if err := d.UnmarshalVT(p.light[role][at]); err != nil {
			tb.Fatal(err)
		}
		d.PairingKey = prefix + strconv.Itoa(k)
		out[k] = d
	}
	return out, wire
}

// cpuTime is the CPU time (user + system) the process has used so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngestPipeline is the collector's ingest path without gRPC
// transport, end to end with 50-field digests: decode each digest from its
// wire form, validate, pair, diff, aggregate and commit durably to bbolt.
// Digests go in through IngestEncoded, as the server passes them.
// Every iteration sends three 64-digest batches (primary, secondary,
// candidate) for 64 requests on one of `streams` concurrent streams, so
// requests wait in the store for their other roles as they do in
// production. digests/s is wall-clock throughput; digests/cpu-s divides by
// the CPU time the process used (all goroutines: commit, GC), i.e. the
// throughput per busy core; with one stream, ingest-digests/cpu-s counts
// only the CPU time spent while Ingest ran (engine and store without the
// decoding). Run with -cpu 1 for the per-core figure.
func BenchmarkIngestPipeline(b *testing.B) {
	for _, streams := range []int{1, 16} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			benchPipeline(b, streams, 64)
		})
	}
}

func benchPipeline(b *testing.B, streams, perBatch int) {
	clk := newClock()
	e, err := Open(b.TempDir(), Options{Now: clk.Now, PairWindow: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	pool := newWirePool(b, 1024, clk)
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	var ingestCPU atomic.Int64 // CPU time of the process while one stream was in Ingest
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for s := range streams {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				prefix := "s" + strconv.Itoa(s) + "-" + strconv.Itoa(i) + "-"
				for _, role := range []shadowdiffv1.Role{primary, secondary, candidate} {
					batch, wire := pool.batch(b, role, prefix, i*perBatch, perBatch)
					c0 := cpuTime(b)
					acc, rej, err := e.IngestEncoded(ctx, batch, wire)
					ingestCPU.Add(int64(cpuTime(b) - c0))
					if err != nil || acc != perBatch || len(rej) != 0 {
						b.Errorf("ingest: accepted %d of %d, rejected %v, err %v", acc, perBatch, rej, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	digests := float64(3 * perBatch * b.N)
	b.ReportMetric(digests/b.Elapsed().Seconds(), "digests/s")
	b.ReportMetric(digests/cpu.Seconds(), "digests/cpu-s")
	if streams == 1 {
		// The engine alone (and what the GC does meanwhile): decoding
		// happens between Ingest calls.
		b.ReportMetric(digests/time.Duration(ingestCPU.Load()).Seconds(), "ingest-digests/cpu-s")
	}
	e.mu.RLock()
	left := e.pairer.len()
	e.mu.RUnlock()
	if left != 0 {
		b.Fatalf("%d requests still pending: every request got its three digests", left)
	}
}
