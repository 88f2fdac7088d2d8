package plugin_test

import (
	"fmt"
	"strings"
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
// digest is dropped and counted, never waited for; and one tick digests a
// bounded number of responses and bytes.
func TestDigestQueueIsBoundedAndTicksAreBudgeted(t *testing.T) {
	t.Run("count", func(t *testing.T) {
		e := start(t, `{"role":"primary","batch":{"max_digests":200}}`)
		for i := range 1030 {
			e.run(exchange{reqHeaders: get("/a", fmt.Sprint("q-", i)), respHeaders: jsonResponse(), respBody: [][]byte{[]byte(`{"a":1}`)}})
		}
		if got := e.counter("shadowdiff.digests_dropped.digest_backlog"); got != 6 || e.counter("shadowdiff.digests_dropped") != 6 {
			t.Errorf("digest_backlog drops %d, want 6 (1030 responses, 1024 wait)", got)
		}
		e.host.Tick()
		e.clock.advance(2 * time.Second)
		e.host.Tick() // digests 64 more, then flushes
		if got := len(e.coll.digests()); got != 128 {
			t.Errorf("two ticks digested %d responses, want 2×64", got)
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
	t.Run("bytes", func(t *testing.T) {
		e := start(t, `{"role":"primary","batch":{"max_digests":1}}`)
		big := []byte(`{"s":"` + strings.Repeat("x", 200<<10) + `"}`)
		for i := range 3 {
			e.run(exchange{reqHeaders: get("/big", fmt.Sprint("b-", i)), respHeaders: jsonResponse(), respBody: [][]byte{big}})
		}
		e.host.Tick()
		if got := len(e.coll.digests()); got != 2 {
			t.Errorf("one tick digested %d responses of 200 KiB, want 2 (256 KiB a tick, the last one may pass it)", got)
		}
		e.host.Tick()
		if got := len(e.coll.digests()); got != 3 {
			t.Errorf("two ticks digested %d responses, want 3", got)
		}
		if b := e.coll.digests()[2].GetBody(); b.GetKind() != pb.BodyKind_BODY_KIND_JSON || b.GetDecodedSize() != uint64(len(big)) {
			t.Errorf("large body: kind %v decoded %d of %d bytes", b.GetKind(), b.GetDecodedSize(), len(big))
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
