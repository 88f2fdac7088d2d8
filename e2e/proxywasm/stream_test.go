package proxywasm

import (
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

func TestLocalResponseIsDeferredAndStops(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	cb := newCallbacks()
	f := p.NewFilter(cb)
	if st := f.DecodeHeaders(requestHeaders("local-reply"), false); st != httpfilter.StopIteration {
		t.Fatalf("DecodeHeaders = %v, want StopIteration after a local reply", st)
	}
	h.rep.expect(t, map[string]string{"local.status": "0"})
	if len(cb.localReply) != 1 {
		t.Fatalf("local replies = %d", len(cb.localReply))
	}
	r := cb.localReply[0]
	if r.status != 403 || string(r.body) != "nope" || r.details != "denied_by_wasm" {
		t.Errorf("local reply = %d %q %q", r.status, r.body, r.details)
	}
	if v, _ := r.headers.Get("x-lr"); v != "1" {
		t.Errorf("local reply headers = %v", r.headers.Fields)
	}
	if _, ok := r.headers.Get("grpc-status"); ok {
		t.Error("grpc-status added to a non-gRPC request")
	}
	// The reply then passes through the filter's encode path normally.
	if st := f.EncodeHeaders(headers(":status", "403"), false); st != httpfilter.Continue {
		t.Errorf("EncodeHeaders of the local reply = %v", st)
	}
	h.rep.expect(t, map[string]string{"local.response_status": "403"})
}

func TestLocalResponseGrpcStatus(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	cb := newCallbacks()
	f := p.NewFilter(cb)
	f.DecodeHeaders(requestHeaders("grpc-local-reply", "content-type", "application/grpc"), false)
	if len(cb.localReply) != 1 {
		t.Fatalf("local replies = %d", len(cb.localReply))
	}
	if v, _ := cb.localReply[0].headers.Get("grpc-status"); v != "7" {
		t.Errorf("grpc-status = %q, want 7", v)
	}
}

func TestCloseAndContinueStream(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	cb := newCallbacks()
	f := p.NewFilter(cb)
	if st := f.DecodeHeaders(requestHeaders("close-stream"), false); st != httpfilter.StopIteration {
		t.Errorf("DecodeHeaders = %v", st)
	}
	h.rep.expect(t, map[string]string{"close.status": "0", "close.upstream": "12", "close.bad": "2", "close.downstream": "0"})
	if cb.resets != 1 || cb.info.ResponseCodeDetails != "wasm_close_stream" {
		t.Errorf("resets %d details %q", cb.resets, cb.info.ResponseCodeDetails)
	}
}

func TestInvalidMemoryAccess(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("invalid-memory"), true)
	h.rep.expect(t, map[string]string{"mem.log": "6", "mem.level": "2"})
}

func TestTrapFollowsFailurePolicy(t *testing.T) {
	for _, failOpen := range []bool{true, false} {
		name := "fail closed"
		if failOpen {
			name = "fail open"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, RuntimeOptions{Workers: 1})
			p := h.load(t, PluginConfig{FailOpen: failOpen})
			check := func(testCase string) {
				t.Helper()
				cb := newCallbacks()
				f := p.NewFilter(cb)
				st := f.DecodeHeaders(requestHeaders(testCase), false)
				if failOpen {
					if st != httpfilter.Continue || len(cb.localReply) != 0 {
						t.Errorf("%s: status %v, %d local replies; want pass-through", testCase, st, len(cb.localReply))
					}
				} else {
					if st != httpfilter.StopIteration || len(cb.localReply) != 1 ||
						cb.localReply[0].status != 503 || cb.localReply[0].details != "wasm_fail_stream" {
						t.Errorf("%s: status %v, local replies %+v; want a 503", testCase, st, cb.localReply)
					}
					// The 503 itself passes through the encode path.
					if st := f.EncodeHeaders(headers(":status", "503"), true); st != httpfilter.Continue {
						t.Errorf("EncodeHeaders of the 503 = %v", st)
					}
				}
				if st := f.DecodeData(&httpfilter.Buffer{Data: []byte("x")}, true); st != httpfilter.Continue {
					t.Errorf("DecodeData after failure = %v", st)
				}
				f.Log()
				f.Destroy()
			}
			check("trap")
			check("headers") // the VM stays failed: later streams follow the policy too
			if got := h.rep.all("headers.path"); len(got) != 0 {
				t.Errorf("a failed VM was called again: %q", got)
			}
			found := false
			h.rep.mu.Lock()
			for _, r := range h.rep.records {
				found = found || strings.Contains(r.Message, "VM failed")
			}
			h.rep.mu.Unlock()
			if !found {
				t.Error("the trap was not logged")
			}
		})
	}
}

// A continue of the running callback's own direction makes it continue:
// the manager is not called back.
func TestContinueOwnDirection(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	cb := newCallbacks()
	f := p.NewFilter(cb)
	if st := f.DecodeHeaders(requestHeaders("pause-and-continue"), false); st != httpfilter.Continue {
		t.Errorf("DecodeHeaders = %v, want Continue", st)
	}
	h.rep.expect(t, map[string]string{"pausecont.continue": "0"})
	if cb.continued != [2]int{} {
		t.Errorf("manager continued %v", cb.continued)
	}
}
