package bench

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/stack"
)

// Names of the filter's counters on the sidecar's admin /stats.
const (
	statSent    = "wasmcustom.shadowdiff.digests_sent"
	statAcked   = "wasmcustom.shadowdiff.digests_acknowledged"
	statDropped = "wasmcustom.shadowdiff.digests_dropped"
	// statRequeued counts digests sent on a stream that failed UNAVAILABLE
	// and queued again: they count in statSent once more when resent.
	statRequeued = "wasmcustom.shadowdiff.digests_requeued"
)

// dropsBeforeSend are the drop reasons counted before a digest is sent:
// the others (stream_closed, ack_timeout, rejected) concern sent digests.
var dropsBeforeSend = []string{"queue_full", "too_large", "digest_backlog"}

// snapshot is the pipeline's counters at one moment.
type snapshot struct {
	at        time.Time
	sidecar   Counters
	collector Counters
}

func takeSnapshot(ctx context.Context, st *stack.Stack) (snapshot, error) {
	s := snapshot{at: time.Now()}
	var err error
	if s.sidecar, err = SidecarStats(ctx, http.DefaultClient, st.AdminURL); err != nil {
		return s, err
	}
	s.collector, err = CollectorMetrics(ctx, http.DefaultClient, st.ConsoleURL+"metrics")
	return s, err
}

// active counts requests still in flight in the sidecar: downstream on
// every listener and upstream on every cluster (mirrors included).
func (s snapshot) active() float64 {
	var n float64
	for name, v := range s.sidecar {
		if strings.HasSuffix(name, ".downstream_rq_active") || strings.HasSuffix(name, ".upstream_rq_active") {
			n += v
		}
	}
	return n
}

func (s snapshot) droppedBeforeSend() float64 {
	var n float64
	for _, r := range dropsBeforeSend {
		n += s.sidecar[statDropped+"."+r]
	}
	return n
}

// delivered reports whether every digest sent so far was acknowledged or
// dropped after sending: nothing is waiting in the filters.
func (s snapshot) delivered() bool {
	sent := s.sidecar[statSent] - s.sidecar[statRequeued]
	afterSend := s.sidecar[statDropped] - s.droppedBeforeSend()
	return s.sidecar[statAcked]+afterSend >= sent
}

// settleQuiet is how long the counters must stay still: longer than a
// response can wait in a filter before its digest is sent (the root's tick
// digests it, then up to envoy/local.yaml's 250 ms batch.flush_interval,
// counted from a tick the digest queue may have restarted). With 250 ms,
// one run in three stopped while ~120 requests' digests still waited.
const settleQuiet = time.Second

// settle waits until the sidecar has no request in flight, the filters have
// delivered what they sent and the counters stopped moving for settleQuiet
// (with pending, also until the collector has no request waiting for
// digests), so a benchmark does not pay for the previous one's backlog. It
// gives up after a minute.
func settle(b *testing.B, st *stack.Stack, pending bool) snapshot {
	b.Helper()
	ctx := b.Context()
	deadline := time.Now().Add(time.Minute)
	var prev snapshot
	var stillSince time.Time
	for {
		s, err := takeSnapshot(ctx, st)
		if err != nil {
			b.Fatal(err)
		}
		quiet := s.active() == 0 && s.delivered() && (!pending || s.collector.Sum("shadowdiff_collector_pending_requests") == 0)
		switch {
		case !quiet || prev.sidecar == nil || s.sidecar[statSent] != prev.sidecar[statSent] || s.droppedBeforeSend() != prev.droppedBeforeSend():
			stillSince = time.Time{}
		case stillSince.IsZero():
			stillSince = prev.at
		case s.at.Sub(stillSince) >= settleQuiet:
			return s
		}
		if time.Now().After(deadline) {
			b.Fatalf("pipeline did not settle within a minute: %s", s)
		}
		prev = s
		select {
		case <-ctx.Done():
			b.Fatal(ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (s snapshot) String() string {
	return fmt.Sprintf("in flight %g, sent %g, acknowledged %g, dropped %g, collector pending %g",
		s.active(), s.sidecar[statSent], s.sidecar[statAcked], s.sidecar[statDropped],
		s.collector.Sum("shadowdiff_collector_pending_requests"))
}
