package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/stack"
)

// Collector series the digest benchmark reads.
const (
	metReceived = "shadowdiff_server_ingest_digests_received_total"
	metDigests  = "shadowdiff_collector_digests_total"
	metRequests = "shadowdiff_collector_requests_total"
)

// BenchmarkDigests sends load through the front listener with shadowdiff
// on and follows the digests: produced by the three filters (one per
// exchange: primary, secondary, candidate), acknowledged by the collector,
// dropped, and the requests the collector accounted for once every window
// closed. digests/s is the acknowledged digests over the time from the
// first request to the last acknowledgement.
func BenchmarkDigests(b *testing.B) {
	for _, tk := range trafficKinds {
		for _, l := range loads(b) {
			b.Run(fmt.Sprintf("traffic=%s/%s", tk.name, l.name), func(b *testing.B) {
				st := stackFor(b, modeOn)
				t := Target{Client: NewClient(30 * time.Second), Base: st.FrontURL, Requests: tk.reqs(), MaxInFlight: *inflight, MaxLag: *maxLag}
				defer t.Client.CloseIdleConnections()
				var sum digestRun
				for range b.N {
					sum.add(digestsOnce(b, st, t, l))
				}
				sum.report(b)
			})
		}
	}
}

// digestRun is what one load run did to the digests.
type digestRun struct {
	requests, failed   float64
	expected, produced float64 // 3 per request; sent + dropped before sending
	acked, received    float64 // by the filters; by the collector's ingest
	lost               float64 // dropped for any reason
	late, duplicate    float64 // received after their request closed, or twice
	accounted          float64 // requests compared, skipped, incomplete or mismatched
	incomplete         float64
	deliverySeconds    float64 // first request to last acknowledgement
}

func digestsOnce(b *testing.B, st *stack.Stack, t Target, l load) digestRun {
	ctx := b.Context()
	before := settle(b, st, true)
	acks := watchAcks(ctx, st)
	run, err := l.run(ctx, t, *duration)
	if err != nil {
		b.Fatal(err)
	}
	after := settle(b, st, true)
	lastAck := acks.stop()
	if n := run.Failed(); n > 0 {
		b.Logf("%d of %d requests failed, e.g. %v", n, len(run.Samples), firstFailure(run))
	}
	d := after.sidecar.Since(before.sidecar)
	c := after.collector.Since(before.collector)
	sent := float64(len(run.Samples) - run.NotSent())
	r := digestRun{
		requests:   sent,
		failed:     float64(run.Failed()),
		expected:   3 * sent,
		produced:   d[statSent] + after.droppedBeforeSend() - before.droppedBeforeSend(),
		acked:      d[statAcked],
		received:   c.Sum(metReceived),
		lost:       d[statDropped],
		late:       c.With(metDigests, `result="late"`),
		duplicate:  c.With(metDigests, `result="duplicate"`),
		accounted:  c.Sum(metRequests),
		incomplete: c.With(metRequests, `outcome="incomplete"`),
	}
	if !lastAck.IsZero() {
		r.deliverySeconds = lastAck.Sub(before.at).Seconds()
	}
	if r.lost > 0 {
		b.Logf("digests dropped: %v", dropReasons(d))
	}
	return r
}

func dropReasons(d Counters) map[string]float64 {
	out := map[string]float64{}
	for name, v := range d {
		if reason, ok := strings.CutPrefix(name, statDropped+"."); ok && v != 0 {
			out[reason] = v
		}
	}
	return out
}

func (s *digestRun) add(r digestRun) {
	s.requests += r.requests
	s.failed += r.failed
	s.expected += r.expected
	s.produced += r.produced
	s.acked += r.acked
	s.received += r.received
	s.lost += r.lost
	s.late += r.late
	s.duplicate += r.duplicate
	s.accounted += r.accounted
	s.incomplete += r.incomplete
	s.deliverySeconds += r.deliverySeconds
}

func (s digestRun) report(b *testing.B) {
	b.ReportMetric(0, "ns/op")
	if s.deliverySeconds > 0 {
		b.ReportMetric(s.acked/s.deliverySeconds, "digests/s")
	}
	b.ReportMetric(s.requests, "requests") // sent; failed includes those not sent
	b.ReportMetric(s.acked, "acked")
	b.ReportMetric(s.lost, "lost")
	// Digests never produced: mirrors not sent or exchanges not digested.
	b.ReportMetric(s.expected-s.produced, "unproduced")
	// Acknowledged by a filter but not counted by the collector, or the reverse.
	b.ReportMetric(s.received-s.acked, "recv-minus-acked")
	// Received after their request had closed (or twice): side-effect
	// requests close without waiting for the secondary, so about half of
	// their secondary digests land here; so do digests of requests closed
	// incomplete when the pair window ended.
	b.ReportMetric(s.late+s.duplicate, "late-digests")
	b.ReportMetric(s.requests-s.accounted, "unaccounted-req")
	b.ReportMetric(s.incomplete, "incomplete-req")
	b.ReportMetric(s.failed, "failed")
}

// ackWatch polls the filters' acknowledged counter and remembers when it
// last moved.
type ackWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	last   time.Time
}

func watchAcks(ctx context.Context, st *stack.Stack) *ackWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &ackWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		client := NewClient(5 * time.Second)
		defer client.CloseIdleConnections()
		prev := -1.0
		for {
			if s, err := SidecarStats(ctx, client, st.AdminURL); err == nil {
				acked := s[statAcked]
				if prev >= 0 && acked != prev {
					w.mu.Lock()
					w.last = time.Now()
					w.mu.Unlock()
				}
				prev = acked
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// stop ends the watch and returns when the counter last moved (zero if never).
func (w *ackWatch) stop() time.Time {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}
