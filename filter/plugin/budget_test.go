package plugin_test

import (
	"strings"
	"testing"

	pb "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// body.max_total_bytes bounds the body bytes a VM holds, streams in flight
// and responses waiting for their digest together: a stream that would pass
// it stops capturing, its digest is marked truncated and it is counted;
// the budget comes back once the held bodies are digested.
func TestCapturedBodiesShareOneBudget(t *testing.T) {
	e := start(t, `{"role":"primary","body":{"max_body_bytes":1024,"max_total_bytes":2048}}`)
	body := []byte(`{"s":"` + strings.Repeat("x", 992) + `"}`) // 1000 bytes
	open := func(key string) uint32 {
		id := e.host.InitializeHttpContext()
		e.host.CallOnRequestHeaders(id, get("/big", key), true)
		e.host.CallOnResponseHeaders(id, jsonResponse(), false)
		e.host.CallOnResponseBody(id, body, true)
		return id
	}
	// a and b fit (2000 bytes); c, in flight at the same time, would not.
	ids := []uint32{open("a"), open("b"), open("c")}
	for _, id := range ids {
		e.host.CompleteHttpContext(id)
	}
	// Queued for their digest, a and b still hold their bodies.
	e.host.CompleteHttpContext(open("d"))
	if got := e.counter("shadowdiff.bodies_truncated.max_total_bytes"); got != 2 {
		t.Errorf("bodies_truncated.max_total_bytes = %d, want 2 (c and d)", got)
	}
	e.digestQueued()
	e.host.CompleteHttpContext(open("e")) // the budget is free again
	e.flush()
	ds := map[string]*pb.BodyDigest{}
	for _, d := range e.coll.digests() {
		ds[d.GetPairingKey()] = d.GetBody()
	}
	for key, truncated := range map[string]bool{"a": false, "b": false, "c": true, "d": true, "e": false} {
		b := ds[key]
		if b == nil {
			t.Errorf("%s: no digest", key)
			continue
		}
		if b.GetTruncated() != truncated || b.GetWireSize() != uint64(len(body)) {
			t.Errorf("%s: truncated %v wire size %d, want truncated %v and %d", key, b.GetTruncated(), b.GetWireSize(), truncated, len(body))
		}
		if !truncated && b.GetKind() != pb.BodyKind_BODY_KIND_JSON {
			t.Errorf("%s: body kind %v", key, b.GetKind())
		}
	}
}
