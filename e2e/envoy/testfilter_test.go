package envoy

import (
	"fmt"
	"strings"
	"sync"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// events is a shared, ordered record of filter callbacks.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, fmt.Sprintf(format, args...))
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.log...)
}

func (e *events) String() string { return strings.Join(e.list(), "\n") }

// testFilter records every callback and lets a test script its answers.
type testFilter struct {
	name string
	ev   *events
	cb   httpfilter.Callbacks

	decodeHeaders func(f *testFilter, h *httpfilter.Headers, end bool) httpfilter.Status
	decodeData    func(f *testFilter, b *httpfilter.Buffer, end bool) httpfilter.Status
	encodeHeaders func(f *testFilter, h *httpfilter.Headers, end bool) httpfilter.Status
	encodeData    func(f *testFilter, b *httpfilter.Buffer, end bool) httpfilter.Status
	onLog         func(f *testFilter)
}

// factory makes testFilters from a template.
type factory struct{ tmpl testFilter }

func (fa *factory) NewFilter(cb httpfilter.Callbacks) httpfilter.Filter {
	f := fa.tmpl
	f.cb = cb
	return &f
}

func (f *testFilter) DecodeHeaders(h *httpfilter.Headers, end bool) httpfilter.Status {
	f.ev.add("%s:DecodeHeaders end=%v", f.name, end)
	if f.decodeHeaders != nil {
		return f.decodeHeaders(f, h, end)
	}
	return httpfilter.Continue
}

func (f *testFilter) DecodeData(b *httpfilter.Buffer, end bool) httpfilter.Status {
	f.ev.add("%s:DecodeData len=%d end=%v", f.name, len(b.Data), end)
	if f.decodeData != nil {
		return f.decodeData(f, b, end)
	}
	return httpfilter.Continue
}

func (f *testFilter) DecodeTrailers(*httpfilter.Headers) httpfilter.Status {
	f.ev.add("%s:DecodeTrailers", f.name)
	return httpfilter.Continue
}

func (f *testFilter) EncodeHeaders(h *httpfilter.Headers, end bool) httpfilter.Status {
	status, _ := h.Get(":status")
	f.ev.add("%s:EncodeHeaders %s end=%v", f.name, status, end)
	if f.encodeHeaders != nil {
		return f.encodeHeaders(f, h, end)
	}
	return httpfilter.Continue
}

func (f *testFilter) EncodeData(b *httpfilter.Buffer, end bool) httpfilter.Status {
	f.ev.add("%s:EncodeData len=%d end=%v", f.name, len(b.Data), end)
	if f.encodeData != nil {
		return f.encodeData(f, b, end)
	}
	return httpfilter.Continue
}

func (f *testFilter) EncodeTrailers(*httpfilter.Headers) httpfilter.Status {
	f.ev.add("%s:EncodeTrailers", f.name)
	return httpfilter.Continue
}

func (f *testFilter) Log() {
	f.ev.add("%s:Log", f.name)
	if f.onLog != nil {
		f.onLog(f)
	}
}

func (f *testFilter) Destroy() { f.ev.add("%s:Destroy", f.name) }

// buffering answers StopAndBuffer until the end of the stream.
func buffering(f *testFilter, b *httpfilter.Buffer, end bool) httpfilter.Status {
	if !end {
		return httpfilter.StopAndBuffer
	}
	return httpfilter.Continue
}
