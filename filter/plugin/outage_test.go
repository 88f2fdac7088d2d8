package plugin_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/filter/plugin"
)

// closeStream has the collector end the current stream with a gRPC status.
func (e *env) closeStream(status int32, msg string) {
	id := e.coll.nextID + 2
	for _, r := range e.vm.Roots {
		r.OnStreamClose(id, status, msg)
	}
}

func (e *env) root() *plugin.Root {
	for _, r := range e.vm.Roots {
		return r
	}
	e.t.Fatal("no root context")
	return nil
}

// A collector that is down often shows as a stream that opens and then
// fails (UNAVAILABLE: connection refused, no healthy upstream). A stream
// carries one batch until the collector acknowledges it, and that batch's
// digests go back to the queue when the stream fails, so an outage costs
// what the queue cannot hold, not the queue.
func TestUnreachableCollectorKeepsTheQueue(t *testing.T) {
	e := start(t, `{"role":"primary","batch":{"max_digests":2},"queue":{"max_digests":10},
		"reconnect":{"initial_backoff":"10ms","max_backoff":"20ms"}}`)
	e.coll.holdAcks = true
	for i := range 6 {
		e.run(exchange{reqHeaders: get("/a", fmt.Sprintf("o%d", i)), respHeaders: jsonResponse()})
	}
	e.digestQueued()
	for attempt := range 3 {
		if got := len(e.coll.batches); got != attempt+1 {
			t.Fatalf("attempt %d: %d batches sent in all, want one per stream opened", attempt, got)
		}
		e.closeStream(14, "upstream connect error or disconnect/reset before headers. reset reason: connection failure")
		e.clock.advance(time.Second)
		e.host.Tick() // past the backoff: a new stream, the same batch first
	}
	if got := e.counter("shadowdiff.digests_dropped"); got != 0 {
		t.Errorf("%d digests dropped by an outage the queue could hold", got)
	}
	if got := e.counter("shadowdiff.digests_requeued"); got != 6 {
		t.Errorf("digests_requeued = %d, want 6 (one batch of 2, three times)", got)
	}
	e.coll.holdAcks = false
	for range 3 {
		e.flush()
	}
	seen := map[string]int{}
	for _, d := range e.coll.digests() {
		seen[d.GetPairingKey()]++
	}
	for i := range 6 {
		if k := fmt.Sprintf("o%d", i); seen[k] == 0 {
			t.Errorf("digest %s never delivered after the collector came back", k)
		}
	}
	if e.counter("shadowdiff.digests_acknowledged") != 6 {
		t.Errorf("acknowledged %d digests, want 6", e.counter("shadowdiff.digests_acknowledged"))
	}
}

// Requeued digests still fit the queue's bounds: the newest are dropped.
func TestRequeueKeepsTheQueueBounded(t *testing.T) {
	e := start(t, `{"role":"primary","batch":{"max_digests":2},"queue":{"max_digests":3}}`)
	e.coll.holdAcks = true
	for i := range 5 {
		e.run(exchange{reqHeaders: get("/a", fmt.Sprintf("b%d", i)), respHeaders: jsonResponse()})
	}
	e.digestQueued() // 2 in flight, 3 queued
	e.closeStream(14, "connection refused")
	if got := e.counter("shadowdiff.digests_dropped.queue_full"); got != 2 {
		t.Errorf("queue_full drops = %d, want 2 (5 digests, a queue of 3)", got)
	}
	e.coll.holdAcks = false
	for range 3 {
		e.flush()
	}
	var got []string
	for _, d := range e.coll.digests()[2:] {
		got = append(got, d.GetPairingKey())
	}
	if fmt.Sprint(got) != "[b0 b1 b2]" {
		t.Errorf("delivered after the outage %v, want the oldest three [b0 b1 b2]", got)
	}
}

// A stream that fails for another reason (the collector refused it, or
// crashed mid-batch) may have been read: its batch is dropped, not sent
// twice. The drops the batch reported go in the next batch, as the
// collector may not have counted them.
func TestLostBatchIsDroppedAndItsReportGoesAgain(t *testing.T) {
	e := start(t, `{"role":"primary","batch":{"max_digests":2},"queue":{"max_digests":2}}`)
	e.coll.down = true
	for i := range 5 {
		e.run(exchange{reqHeaders: get("/a", fmt.Sprintf("l%d", i)), respHeaders: jsonResponse()})
	}
	e.digestQueued() // 2 queued, 3 dropped
	e.coll.down = false
	e.coll.holdAcks = true
	e.flush()
	if n := len(e.coll.batches); n != 1 || e.coll.batches[0].GetDropped() != 3 {
		t.Fatalf("%d batches; want one reporting the 3 dropped", n)
	}
	e.closeStream(13, "internal error")
	if got := e.counter("shadowdiff.digests_dropped.stream_closed"); got != 2 {
		t.Errorf("stream_closed drops = %d, want the batch's 2", got)
	}
	e.coll.holdAcks = false
	e.run(exchange{reqHeaders: get("/a", "after"), respHeaders: jsonResponse()})
	for range 3 {
		e.flush()
	}
	last := e.coll.batches[len(e.coll.batches)-1]
	if last.GetDropped() != 5 || len(last.GetDigests()) != 1 {
		t.Errorf("next batch: %d digests reporting %d dropped, want 1 reporting 5 (3 again, 2 lost)", len(last.GetDigests()), last.GetDropped())
	}
}

// A collector that restarts (a rollout) ends its streams UNAVAILABLE after
// acknowledging the batch it was storing; the batches it did not
// acknowledge, it did not store. They go back to the queue, in order, and
// reach the next collector.
func TestCollectorRestartRequeuesUnacknowledgedBatches(t *testing.T) {
	e := start(t, `{"role":"primary","batch":{"max_digests":2},"reconnect":{"initial_backoff":"10ms","max_backoff":"20ms"}}`)
	e.run(exchange{reqHeaders: get("/a", "first"), respHeaders: jsonResponse()})
	e.flush() // acknowledged: the stream is confirmed
	e.coll.holdAcks = true
	for i := range 6 {
		e.run(exchange{reqHeaders: get("/a", fmt.Sprintf("r%d", i)), respHeaders: jsonResponse()})
	}
	e.digestQueued()
	if got := len(e.coll.batches); got != 4 {
		t.Fatalf("%d batches sent, want 4 (the first, then 3 in flight)", got)
	}
	e.coll.unacked = nil
	e.closeStream(14, "collector is shutting down")
	e.coll.holdAcks = false
	for range 3 {
		e.flush()
	}
	var resent []string
	for _, d := range e.coll.digests()[7:] {
		resent = append(resent, d.GetPairingKey())
	}
	if fmt.Sprint(resent) != "[r0 r1 r2 r3 r4 r5]" {
		t.Errorf("resent after the restart %v, want every unacknowledged digest in order", resent)
	}
	if got := e.counter("shadowdiff.digests_dropped"); got != 0 {
		t.Errorf("%d digests dropped over a collector restart", got)
	}
	if got := e.counter("shadowdiff.digests_acknowledged"); got != 7 {
		t.Errorf("%d digests acknowledged, want 7", got)
	}
}

// A batch the host refused to send goes back to the queue too, but it was
// never counted sent, so it is not counted requeued: digests_sent minus
// digests_requeued stays what the collector was given.
func TestRefusedSendIsQueuedAgainUncounted(t *testing.T) {
	e := start(t, `{"role":"primary","batch":{"max_digests":1},"reconnect":{"initial_backoff":"10ms","max_backoff":"20ms"}}`)
	e.coll.failSends = 1
	e.run(exchange{reqHeaders: get("/a", "refused"), respHeaders: jsonResponse()})
	for range 3 {
		e.flush()
	}
	sent, requeued := e.counter("shadowdiff.digests_sent"), e.counter("shadowdiff.digests_requeued")
	if sent != 1 || requeued != 0 || e.counter("shadowdiff.digests_acknowledged") != 1 || e.counter("shadowdiff.digests_dropped") != 0 {
		t.Errorf("sent %d, requeued %d, acknowledged %d, dropped %d; want 1, 0, 1, 0", sent, requeued,
			e.counter("shadowdiff.digests_acknowledged"), e.counter("shadowdiff.digests_dropped"))
	}
}
