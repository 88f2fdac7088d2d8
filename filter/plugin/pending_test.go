package plugin_test

import (
	"fmt"
	"testing"
	"time"

	pb "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// The digest is not computed when the stream ends (proxy_on_done runs
// before Envoy writes the response's last bytes to the socket): OnDone
// hands the response to the root, and the root's tick digests it. The
// queued stream keeps its buffers although the proxy released it and a new
// stream started meanwhile.
func TestDigestWaitsForTheRootTick(t *testing.T) {
	e := start(t, `{"role":"primary","batch":{"max_digests":1},"raw_fields":["body.id"]}`)
	base := e.host.GetTickPeriod()
	for _, id := range []string{"1", "2"} {
		e.run(exchange{reqHeaders: get("/users/"+id, "k"+id), respHeaders: jsonResponse(),
			respBody: [][]byte{[]byte(`{"id":"` + id + `",`), []byte(`"name":"user ` + id + `"}`)}})
	}
	// With one digest per batch, a digest computed at stream end would
	// have been sent at once.
	if n := len(e.coll.batches); n != 0 || e.counter("shadowdiff.digests_sent") != 0 {
		t.Fatalf("%d batches sent before the root's tick: the digest ran when the stream ended", n)
	}
	if p := e.host.GetTickPeriod(); p != 10 || base <= p {
		t.Errorf("tick period %d ms while responses wait (%d ms before), want 10", p, base)
	}
	e.host.Tick()
	e.ack() // the stream is confirmed: the second batch follows the first
	ds := e.coll.digests()
	if len(ds) != 2 {
		t.Fatalf("%d digests after the tick, want 2", len(ds))
	}
	for i, d := range ds {
		id := fmt.Sprint(i + 1)
		var raw string
		for _, f := range d.GetBody().GetFields() {
			if f.GetPath() == "id" {
				raw = f.GetRawValue()
			}
		}
		if d.GetPairingKey() != "k"+id || d.GetSkip() != 0 || d.GetBody().GetKind() != pb.BodyKind_BODY_KIND_JSON || raw != id || len(d.GetHeaders()) != 2 {
			t.Errorf("digest %d: %v", i, d)
		}
	}
	// An idle tick returns to the sender's period.
	e.host.Tick()
	if p := e.host.GetTickPeriod(); p != base {
		t.Errorf("tick period %d ms once the queue is empty, want %d", p, base)
	}
}

// The responses waiting for their digest are bounded: beyond the bound a
// digest is dropped and counted, never waited for. A tick's work is
// bounded by time, not by a count of responses or of captured bytes: a
// small gzip body may decode to megabytes, and cheap digests must not be
// dropped for a count.
func TestDigestQueueIsBoundedAndTicksAreBudgeted(t *testing.T) {
	t.Run("count", func(t *testing.T) {
		e := start(t, `{"role":"primary","batch":{"max_digests":200}}`)
		for i := range 1030 {
			e.run(exchange{reqHeaders: get("/a", fmt.Sprint("q-", i)), respHeaders: jsonResponse(), respBody: [][]byte{[]byte(`{"a":1}`)}})
		}
		if got := e.counter("shadowdiff.digests_dropped.digest_backlog"); got != 6 || e.counter("shadowdiff.digests_dropped") != 6 {
			t.Errorf("digest_backlog drops %d, want 6 (1030 responses, 1024 wait)", got)
		}
		e.host.Tick() // no time passes: every queued response is digested
		// They leave once the stream is confirmed, in batches of 200.
		e.ack()
		if got := e.counter("shadowdiff.digests_sent"); got != 1024 {
			t.Errorf("one tick sent %d digests, want 1024: it digested fewer than the 1024 queued", got)
		}
		for range 20 {
			e.flush()
		}
		if got := len(e.coll.digests()); got != 1024 {
			t.Errorf("delivered %d digests, want the 1024 queued", got)
		}
		if d := e.coll.batches[0].GetDropped(); d != 6 {
			t.Errorf("first batch reports %d dropped, want 6", d)
		}
	})
	t.Run("time", func(t *testing.T) {
		e := start(t, `{"role":"primary","batch":{"max_digests":1}}`)
		base := e.host.GetTickPeriod()
		for i := range 3 {
			e.run(exchange{reqHeaders: get("/a", fmt.Sprint("t-", i)), respHeaders: jsonResponse(), respBody: [][]byte{[]byte(`{"a":1}`)}})
		}
		e.clock.step = time.Second // every digest takes longer than a tick may spend
		e.host.Tick()
		if got := len(e.coll.digests()); got != 1 {
			t.Errorf("a tick whose first digest used its time digested %d responses, want 1", got)
		}
		if p := e.host.GetTickPeriod(); p != 1 {
			t.Errorf("tick period %d ms with responses left after a tick, want 1", p)
		}
		e.ack()
		e.host.Tick()
		e.ack()
		e.host.Tick()
		if got := len(e.coll.digests()); got != 3 {
			t.Errorf("three ticks digested %d responses, want 3", got)
		}
		if p := e.host.GetTickPeriod(); p != 10 {
			t.Errorf("tick period %d ms once the backlog is digested, want 10", p)
		}
		e.host.Tick()
		if p := e.host.GetTickPeriod(); p != base {
			t.Errorf("tick period %d ms after an idle tick, want the sender's %d", p, base)
		}
	})
}

// Responses still waiting for their digest when the plugin instance ends
// (on_done of the root context) are counted as dropped (shutdown), and so
// is a stream that ends after it: no tick will come for them.
func TestShutdownCountsResponsesWaitingForTheirDigest(t *testing.T) {
	e := start(t, `{"role":"primary"}`)
	for i := range 3 {
		e.run(exchange{reqHeaders: get("/a", fmt.Sprint("w", i)), respHeaders: jsonResponse()})
	}
	if !e.host.FinishVM() {
		t.Error("on_done returned false")
	}
	if got := e.counter("shadowdiff.digests_dropped.shutdown"); got != 3 {
		t.Errorf("digests_dropped.shutdown = %d, want 3", got)
	}
	e.run(exchange{reqHeaders: get("/a", "late"), respHeaders: jsonResponse()})
	e.flush()
	if got := e.counter("shadowdiff.digests_dropped.shutdown"); got != 4 || len(e.coll.batches) != 0 {
		t.Errorf("after shutdown: dropped.shutdown %d, %d batches", got, len(e.coll.batches))
	}
}
