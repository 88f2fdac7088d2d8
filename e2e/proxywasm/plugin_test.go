package proxywasm

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// The shadowdiff filter streams from the root context: it opens the stream
// in on_configure and sends from stream contexts.
func TestGrpcStreamFromTheRootContext(t *testing.T) {
	es := startEchoServer(t)
	h := newHarness(t, RuntimeOptions{Workers: 1, Clusters: testClusters{"collector": newTestCluster("collector", true, es.addr)}})
	p := h.load(t, PluginConfig{Configuration: []byte("stream=collector")})
	h.rep.expect(t, map[string]string{"configure.stream": "0:2", "configure.stream_send": "0"})
	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("root-stream-send"), true)
	h.rep.wait(t, "grpc.msg", 2)
	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("root-stream-close"), true)
	h.rep.expect(t, map[string]string{"rootstream.send": "0", "rootstream.close": "0"})
	h.rep.wait(t, "grpc.close", 1)
	if got := h.rep.all("grpc.msg"); !slices.Equal(got, []string{"2:0:echo:from-configure", "2:0:echo:from-request"}) {
		t.Errorf("messages = %q", got)
	}
}

// Streams run concurrently on the plugin's VMs; each VM serialises its calls.
func TestConcurrentStreams(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 2})
	p := h.load(t, PluginConfig{Configuration: []byte("tick=1")})
	const goroutines, perG = 8, 40
	var wg sync.WaitGroup
	errs := make(chan string, goroutines*perG)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				id := strconv.Itoa(g*perG + i)
				cb := newCallbacks()
				f := p.NewFilter(cb)
				req := requestHeaders("concurrent")
				req.Set("x-request-id", id)
				if st := f.DecodeHeaders(req, false); st != httpfilter.Continue {
					errs <- "DecodeHeaders " + id
				}
				f.DecodeData(&httpfilter.Buffer{Data: []byte("body")}, true)
				f.EncodeHeaders(headers(":status", "200"), true)
				cb.req = req
				f.Log()
				f.Destroy()
				if v, _ := req.Get("x-seen"); v != id {
					errs <- "x-seen " + v + " != " + id
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if m := metricByName(t, h.rt, "conc.requests"); m.Value != goroutines*perG {
		t.Errorf("conc.requests = %d, want %d", m.Value, goroutines*perG)
	}
	h.rep.wait(t, "tick.done", 2)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCompilationCacheDir(t *testing.T) {
	dir := t.TempDir()
	for i := range 2 {
		h := newHarness(t, RuntimeOptions{Workers: 1, CompilationCacheDir: dir})
		h.load(t, PluginConfig{})
		if err := h.rt.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) == 0 {
			t.Fatalf("run %d: cache dir is empty (%v)", i, err)
		}
	}
}

// Of the env functions only proxy_log is allowed while _initialize runs, as
// in proxy-wasm-cpp-host.
func TestHostCallsRestrictedDuringInitialize(t *testing.T) {
	code := buildWasm(
		[]wasmImport{{module: "env", name: "proxy_set_tick_period_milliseconds", params: []byte{wI32}, results: []byte{wI32}}},
		append(minimalFuncs(abiVersion021), wasmFunc{name: "_initialize", body: []byte{0x41, 0x00, 0x10, 0x00, 0x1a}}),
		true)
	h := newHarness(t, RuntimeOptions{Workers: 1})
	_, err := h.rt.Load(context.Background(), PluginConfig{Name: "init", Code: code})
	if err == nil || !strings.Contains(err.Error(), "proxy_set_tick_period_milliseconds is not allowed during module start") {
		t.Fatalf("Load error = %v", err)
	}
}

func TestClosedPluginAndRuntime(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{FailOpen: true})
	f := p.NewFilter(newCallbacks())
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// A stream of a closed plugin fails open as configured.
	if st := f.DecodeHeaders(requestHeaders("headers"), true); st != httpfilter.Continue {
		t.Errorf("DecodeHeaders on a closed plugin = %v", st)
	}
	if err := h.rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.rt.Load(context.Background(), PluginConfig{Code: conformanceWasm}); err == nil {
		t.Error("Load on a closed runtime succeeded")
	}
}

// BenchmarkLoad measures Load (compile + one VM's startup) without and with
// a warm compilation cache directory.
func BenchmarkLoad(b *testing.B) {
	for _, cached := range []bool{false, true} {
		name := map[bool]string{false: "compile", true: "cached"}[cached]
		b.Run(name, func(b *testing.B) {
			dir := ""
			if cached {
				dir = b.TempDir()
				warm, err := NewRuntime(context.Background(), RuntimeOptions{Workers: 1, CompilationCacheDir: dir})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := warm.Load(context.Background(), PluginConfig{Code: conformanceWasm}); err != nil {
					b.Fatal(err)
				}
				warm.Close(context.Background())
			}
			for b.Loop() {
				rt, err := NewRuntime(context.Background(), RuntimeOptions{Workers: 1, CompilationCacheDir: dir})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := rt.Load(context.Background(), PluginConfig{Code: conformanceWasm}); err != nil {
					b.Fatal(err)
				}
				rt.Close(context.Background())
			}
		})
	}
}
