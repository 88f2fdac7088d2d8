package proxywasm

import (
	"github.com/tetratelabs/wazero/api"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// callbackKind tells which stop status a failed or answered callback returns.
type callbackKind int

const (
	kindHeaders callbackKind = iota
	kindData
	kindTrailers
)

func (k callbackKind) stop() httpfilter.Status {
	if k == kindData {
		return httpfilter.StopNoBuffer
	}
	return httpfilter.StopIteration
}

// NewFilter returns the filter of one stream. Streams are spread over the
// plugin's VMs round robin and stay on one VM for their whole life.
func (p *Plugin) NewFilter(cb httpfilter.Callbacks) httpfilter.Filter {
	n := p.next.Add(1) - 1
	return &filter{v: p.vms[int(n%uint32(len(p.vms)))], cb: cb}
}

// filter is the per-stream httpfilter.Filter: it calls the guest's stream
// callbacks on its VM and applies Envoy's status conversions and failure
// policy.
type filter struct {
	v  *vm
	cb httpfilter.Callbacks
	s  *stream
	// failed is set once the stream has been answered 503 (fail closed).
	failed bool
}

var _ httpfilter.Filter = (*filter)(nil)

// begin creates the stream context on first use (proxy_on_context_create
// just before proxy_on_request_headers or proxy_on_log, as Envoy's
// onCreate). v.mu must be held. It reports false when the VM cannot run the
// stream.
func (f *filter) begin() (*stream, bool) {
	v := f.v
	if v.failed.Load() || v.closed {
		return nil, false
	}
	if f.s == nil {
		s := &stream{id: v.newContextID(), v: v, cb: f.cb}
		v.streams[s.id] = s
		f.s = s
		if v.fns.onContextCreate != nil {
			if _, err := v.call(v.newFrame(s.id), v.fns.onContextCreate, uint64(s.id), uint64(v.rootID)); err != nil {
				return nil, false
			}
		}
		s.created = true
	}
	if f.s.ended || f.s.deleted {
		return nil, false
	}
	return f.s, true
}

// fail applies the failure policy: pass through under FailOpen, else answer
// 503 once and let that reply pass through this filter afterwards.
func (f *filter) fail(kind callbackKind) httpfilter.Status {
	if f.v.p.cfg.FailOpen || f.failed {
		return httpfilter.Continue
	}
	f.failed = true
	f.cb.SendLocalReply(failStreamStatus, nil, nil, failStreamDetails)
	return kind.stop()
}

// callback describes one stream callback: its guest function, arguments,
// and the map or buffer it exposes while it runs.
type callback struct {
	kind  callbackKind
	dir   streamType
	fn    api.Function
	n     uint64 // header count or body size
	eos   bool
	nargs int // 2 (trailers) or 3
	mt    mapType
	h     *httpfilter.Headers
	body  *httpfilter.Buffer
}

// expose makes the callback's map or buffer available to the guest.
func (c *callback) expose(s *stream) {
	if c.kind == kindData {
		s.bodies[c.dir] = c.body
		return
	}
	s.maps[c.mt], s.seen[c.mt] = c.h, c.h
}

// hide removes it again, as Envoy clears its pointer after Continue.
func (c *callback) hide(s *stream) {
	if c.kind == kindData {
		s.bodies[c.dir] = nil
		return
	}
	s.maps[c.mt] = nil
}

func (c *callback) convert(raw uint64) httpfilter.Status {
	switch c.kind {
	case kindHeaders:
		return convertHeaders(raw)
	case kindData:
		return convertData(raw)
	}
	return convertTrailers(raw)
}

// createsContext tells whether the callback creates the stream context:
// only decodeHeaders does (and log(), see Log).
func (c *callback) createsContext() bool {
	return c.kind == kindHeaders && c.dir == streamHTTPRequest
}

// run calls the callback for the stream, converts the result and applies
// the actions the guest deferred until the call returned.
func (f *filter) run(c *callback) httpfilter.Status {
	v := f.v
	v.mu.Lock()
	// Envoy's encodeHeaders, encodeData and encodeTrailers (and the decode
	// ones after decodeHeaders) continue while the context was not created
	// (source/extensions/common/wasm/context.cc, in_vm_context_created_).
	if f.s == nil && !c.createsContext() {
		v.mu.Unlock()
		return httpfilter.Continue
	}
	s, ok := f.begin()
	if !ok {
		ended := f.s != nil && (f.s.ended || f.s.deleted)
		v.mu.Unlock()
		if ended {
			return httpfilter.Continue
		}
		return f.fail(c.kind)
	}
	c.expose(s)
	st := httpfilter.Continue
	fr := v.newFrame(s.id)
	if c.fn != nil {
		var raw uint64
		var err error
		if c.nargs == 2 {
			raw, err = v.call(fr, c.fn, uint64(s.id), c.n)
		} else {
			raw, err = v.call(fr, c.fn, uint64(s.id), c.n, boolArg(c.eos))
		}
		if err != nil {
			v.mu.Unlock()
			return f.fail(c.kind)
		}
		st = c.convert(raw)
	}
	if st == httpfilter.Continue {
		c.hide(s)
	}
	own := s.pending
	s.pending = actions{}
	var others []streamActions
	if len(fr.touched) > 0 {
		others = takeActions(fr.touched)
	}
	v.mu.Unlock()

	for _, a := range others {
		a.apply()
	}
	switch {
	case own.localReply != nil:
		r := own.localReply
		f.cb.SendLocalReply(r.status, r.body, r.headers, r.details)
		return c.kind.stop()
	case own.reset:
		f.cb.ResetStream()
		return c.kind.stop()
	}
	if own.resume[c.dir] {
		st = httpfilter.Continue
	}
	if other := 1 - c.dir; own.resume[other] {
		if other == streamHTTPRequest {
			f.cb.ContinueDecoding()
		} else {
			f.cb.ContinueEncoding()
		}
	}
	return st
}

func boolArg(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (f *filter) headers(dir streamType, t mapType, fn api.Function, h *httpfilter.Headers, eos bool) httpfilter.Status {
	return f.run(&callback{kind: kindHeaders, dir: dir, fn: fn, n: uint64(len(h.Fields)), eos: eos, nargs: 3, mt: t, h: h})
}

func (f *filter) data(dir streamType, fn api.Function, b *httpfilter.Buffer, eos bool) httpfilter.Status {
	return f.run(&callback{kind: kindData, dir: dir, fn: fn, n: uint64(len(b.Data)), eos: eos, nargs: 3, body: b})
}

func (f *filter) trailers(dir streamType, t mapType, fn api.Function, h *httpfilter.Headers) httpfilter.Status {
	return f.run(&callback{kind: kindTrailers, dir: dir, fn: fn, n: uint64(len(h.Fields)), nargs: 2, mt: t, h: h})
}

func (f *filter) DecodeHeaders(h *httpfilter.Headers, eos bool) httpfilter.Status {
	return f.headers(streamHTTPRequest, mapRequestHeaders, f.v.fns.onRequestHeaders, h, eos)
}

func (f *filter) DecodeData(b *httpfilter.Buffer, eos bool) httpfilter.Status {
	return f.data(streamHTTPRequest, f.v.fns.onRequestBody, b, eos)
}

func (f *filter) DecodeTrailers(t *httpfilter.Headers) httpfilter.Status {
	return f.trailers(streamHTTPRequest, mapRequestTrailers, f.v.fns.onRequestTrailers, t)
}

func (f *filter) EncodeHeaders(h *httpfilter.Headers, eos bool) httpfilter.Status {
	return f.headers(streamHTTPResponse, mapResponseHeaders, f.v.fns.onResponseHeaders, h, eos)
}

func (f *filter) EncodeData(b *httpfilter.Buffer, eos bool) httpfilter.Status {
	return f.data(streamHTTPResponse, f.v.fns.onResponseBody, b, eos)
}

func (f *filter) EncodeTrailers(t *httpfilter.Headers) httpfilter.Status {
	return f.trailers(streamHTTPResponse, mapResponseTrailers, f.v.fns.onResponseTrailers, t)
}

// Log calls proxy_on_log in the access-log phase, creating the context first
// if the stream never reached DecodeHeaders (a local reply, for instance).
// Envoy runs the access log before destroying the filter; a Log after
// Destroy is ignored.
func (f *filter) Log() {
	v := f.v
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := f.begin()
	if !ok || v.fns.onLog == nil {
		return
	}
	s.logPhase = true
	fr := v.newFrame(s.id)
	_, _ = v.call(fr, v.fns.onLog, uint64(s.id))
	s.logPhase = false
	// Actions requested in the access-log phase have nothing left to act on.
	s.pending = actions{}
}

// Destroy calls proxy_on_done and, unless it returned false (the module
// then calls proxy_done later), proxy_on_delete.
func (f *filter) Destroy() {
	v := f.v
	v.mu.Lock()
	defer v.mu.Unlock()
	s := f.s
	if s == nil || s.ended {
		return
	}
	s.ended = true
	s.maps = [4]*httpfilter.Headers{}
	s.bodies = [2]*httpfilter.Buffer{}
	s.pending = actions{}
	if v.failed.Load() || v.closed {
		s.deleted = true
		delete(v.streams, s.id)
		return
	}
	if v.fns.onDone != nil {
		done, err := v.call(v.newFrame(s.id), v.fns.onDone, uint64(s.id))
		if err != nil {
			s.deleted = true
			delete(v.streams, s.id)
			return
		}
		if uint32(done) == 0 {
			s.pendingDone = true
			return
		}
	}
	v.deleteStream(s)
}
