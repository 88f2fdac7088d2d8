package proxywasm

import (
	"context"
	"strconv"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// runStream drives one request/response through a filter like the manager.
func runStream(p *Plugin, testCase, id string) *httpfilter.Headers {
	cb := newCallbacks()
	f := p.NewFilter(cb)
	req := requestHeaders(testCase)
	req.Set("x-request-id", id)
	f.DecodeHeaders(req, false)
	f.DecodeData(&httpfilter.Buffer{Data: []byte(`{"a":1}`)}, true)
	resp := headers(":status", "200", "content-type", "application/json")
	f.EncodeHeaders(resp, false)
	f.EncodeData(&httpfilter.Buffer{Data: []byte(`{"ok":true}`)}, true)
	cb.req, cb.resp = req, resp
	f.Log()
	f.Destroy()
	return req
}

func TestFilterRoundRobinAndStreamBinding(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 3})
	p := h.load(t, PluginConfig{})
	seen := map[*vm]int{}
	for range 6 {
		f := p.NewFilter(newCallbacks()).(*filter)
		seen[f.v]++
		f.DecodeHeaders(requestHeaders("none"), true)
		// Every callback of the stream runs on the VM it was bound to.
		first := f.s
		f.EncodeHeaders(headers(":status", "200"), true)
		if f.s != first || f.s.v != f.v {
			t.Fatal("stream moved between VMs")
		}
		f.Destroy()
	}
	if len(seen) != 3 {
		t.Fatalf("streams used %d VMs, want 3", len(seen))
	}
	for v, n := range seen {
		if n != 2 {
			t.Errorf("VM %d got %d streams, want 2", v.index, n)
		}
		if len(v.streams) != 0 {
			t.Errorf("VM %d still holds %d streams after Destroy", v.index, len(v.streams))
		}
	}
}

// BenchmarkStream measures a full stream (headers, body, response, log,
// destroy) through a guest that reads and adds a header and bumps a counter
// on each request; mem_bytes is the guest's linear memory afterwards.
func BenchmarkStream(b *testing.B) {
	for _, c := range []string{"none", "concurrent"} {
		b.Run(c, func(b *testing.B) {
			rt, err := NewRuntime(context.Background(), RuntimeOptions{Workers: 1, CompilationCacheDir: testCacheDir})
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Close(context.Background())
			p, err := rt.Load(context.Background(), PluginConfig{Name: "bench", Code: conformanceWasm})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				runStream(p, c, strconv.Itoa(i))
			}
			b.ReportMetric(float64(p.vms[0].mod.Memory().Size()), "mem_bytes")
		})
	}
}

// noopPlugin exports every stream callback, each doing nothing: it measures
// the host's own cost per stream.
func noopPlugin() []byte {
	i := []byte{wI32}
	ret0 := []byte{0x41, 0x00}
	fns := minimalFuncs(abiVersion021)
	for _, f := range []struct {
		name   string
		params int
		result bool
	}{
		{"proxy_on_context_create", 2, false}, {"proxy_on_request_headers", 3, true},
		{"proxy_on_request_body", 3, true}, {"proxy_on_response_headers", 3, true},
		{"proxy_on_response_body", 3, true}, {"proxy_on_log", 1, false},
		{"proxy_on_done", 1, true}, {"proxy_on_delete", 1, false},
	} {
		wf := wasmFunc{name: f.name}
		for range f.params {
			wf.params = append(wf.params, wI32)
		}
		if f.result {
			wf.results, wf.body = i, ret0
			if f.name == "proxy_on_done" {
				wf.body = []byte{0x41, 0x01}
			}
		}
		fns = append(fns, wf)
	}
	return buildWasm(nil, fns, true)
}

func BenchmarkStreamHostOverhead(b *testing.B) {
	rt, err := NewRuntime(context.Background(), RuntimeOptions{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(context.Background())
	p, err := rt.Load(context.Background(), PluginConfig{Name: "noop", Code: noopPlugin()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		runStream(p, "none", strconv.Itoa(i))
	}
}

// A stream whose request never reached the filter (an earlier filter
// answered it) gets no context on the response path: Envoy's encodeHeaders,
// encodeData and encodeTrailers continue until decodeHeaders has created
// it. The access log then creates it.
func TestResponseCallbacksDoNotCreateTheContext(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	f := p.NewFilter(newCallbacks())
	for name, st := range map[string]httpfilter.Status{
		"EncodeHeaders":  f.EncodeHeaders(headers(":status", "503"), false),
		"EncodeData":     f.EncodeData(&httpfilter.Buffer{Data: []byte("no upstream")}, false),
		"EncodeTrailers": f.EncodeTrailers(headers("x", "y")),
	} {
		if st != httpfilter.Continue {
			t.Errorf("%s = %v, want Continue", name, st)
		}
	}
	if got := h.rep.all("create"); len(got) != 1 {
		t.Fatalf("contexts created before the access log: %q, want the root's only", got)
	}
	f.Log()
	f.Destroy()
	h.rep.expect(t, map[string]string{"create": "2/1", "log.": "2"})
}
