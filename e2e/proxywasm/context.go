package proxywasm

import "github.com/shadowdiff/shadowdiff/e2e/httpfilter"

// stream is the HTTP context of one stream on a VM (Envoy's per-stream
// Context). Its fields are guarded by the VM lock.
type stream struct {
	id uint32
	v  *vm
	cb httpfilter.Callbacks

	created     bool // proxy_on_context_create ran
	deleted     bool // proxy_on_delete ran (or the VM is gone)
	pendingDone bool // proxy_on_done returned false: waiting for proxy_done
	logPhase    bool // inside proxy_on_log: maps are read-only
	ended       bool // the filter was destroyed: callbacks are gone

	// maps are the header maps the guest may use now, indexed by mapType
	// 0..3; nil when Envoy would hold a null pointer.
	maps [4]*httpfilter.Headers
	// bodies are the body buffers the guest may use now (request, response).
	bodies [2]*httpfilter.Buffer
	// seen keeps every map the stream was given, for properties.
	seen [4]*httpfilter.Headers

	localReplySent bool
	pending        actions
}

// localReply is a deferred proxy_send_local_response.
type localReply struct {
	status  int
	body    []byte
	headers *httpfilter.Headers
	details string
}

// actions are what Envoy defers until the VM call returns.
type actions struct {
	localReply *localReply
	resume     [2]bool // continue request / response
	reset      bool
}

func (a actions) empty() bool {
	return a.localReply == nil && !a.resume[0] && !a.resume[1] && !a.reset
}

// streamActions pairs a stream's callbacks with its deferred actions so they
// can be applied after the VM lock is released (the manager may call back
// into the filter synchronously).
type streamActions struct {
	cb httpfilter.Callbacks
	a  actions
}

// takeActions removes the pending actions of live streams.
func takeActions(ss []*stream) []streamActions {
	var out []streamActions
	for _, s := range ss {
		a := s.pending
		s.pending = actions{}
		if s.deleted || s.ended || a.empty() {
			continue
		}
		out = append(out, streamActions{cb: s.cb, a: a})
	}
	return out
}

// apply performs the actions on the stream's callbacks.
func (sa streamActions) apply() {
	if r := sa.a.localReply; r != nil {
		sa.cb.SendLocalReply(r.status, r.body, r.headers, r.details)
		return
	}
	if sa.a.reset {
		sa.cb.ResetStream()
		return
	}
	if sa.a.resume[streamHTTPRequest] {
		sa.cb.ContinueDecoding()
	}
	if sa.a.resume[streamHTTPResponse] {
		sa.cb.ContinueEncoding()
	}
}
