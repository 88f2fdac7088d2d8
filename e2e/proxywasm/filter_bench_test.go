package proxywasm

// The real shadowdiff filter (filter/cmd/filter) in this host: the cost of
// one primary-role stream, the host's own cost for the same stream, and
// (behind SHADOWDIFF_SOAK=1) the guest's linear memory over a million
// requests. The digests go over gRPC to the real collector (server and
// engine) on 127.0.0.1:0.

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
)

const (
	collectorClusterName = "shadowdiff-collector"
	primaryFilterConfig  = `{"role":"primary","collector":{"cluster":"shadowdiff-collector"}}`
	// benchChunk is how the Envoy subset hands a body to the filters
	// (e2e/envoy's chunkSize).
	benchChunk = 32 << 10
)

// buildShadowdiffFilter builds filter.wasm from this tree and returns its bytes.
func buildShadowdiffFilter(tb testing.TB) []byte {
	tb.Helper()
	code, err := os.ReadFile(testenv.FilterWasm(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return code
}

// loadPlugin starts a one-VM runtime whose collector cluster points at
// collector and loads code with the primary role's configuration.
func loadPlugin(tb testing.TB, code []byte, collector string) (*Runtime, *Plugin) {
	tb.Helper()
	rt, err := NewRuntime(context.Background(), RuntimeOptions{
		Workers:             1,
		CompilationCacheDir: testCacheDir,
		Clusters:            testClusters{collectorClusterName: newTestCluster(collectorClusterName, true, collector)},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := rt.Close(context.Background()); err != nil {
			tb.Errorf("close runtime: %v", err)
		}
	})
	p, err := rt.Load(context.Background(), PluginConfig{
		Name: "shadowdiff", RootID: "shadowdiff", VMID: "shadowdiff-primary",
		Code:          code,
		Configuration: []byte(primaryFilterConfig),
		Env:           map[string]string{"SHADOWDIFF_HASH_KEY": "shadowdiff-bench-key-0000000000"},
	})
	if err != nil {
		tb.Fatalf("load: %v", err)
	}
	return rt, p
}

// chunks splits body as the Envoy subset's reads would.
func chunks(body []byte) [][]byte {
	var out [][]byte
	for len(body) > benchChunk {
		out = append(out, body[:benchChunk])
		body = body[benchChunk:]
	}
	return append(out, body)
}

// benchCallbacks is the manager side of one stream. A primary stream must
// pass untouched, so every action the filter asks for is an error.
type benchCallbacks struct {
	info       httpfilter.StreamInfo
	req, resp  *httpfilter.Headers
	unexpected string
}

func (c *benchCallbacks) SendLocalReply(status int, _ []byte, _ *httpfilter.Headers, details string) {
	c.unexpected = fmt.Sprintf("local reply %d (%s)", status, details)
}
func (c *benchCallbacks) ContinueDecoding()                     { c.unexpected = "continue decoding" }
func (c *benchCallbacks) ContinueEncoding()                     { c.unexpected = "continue encoding" }
func (c *benchCallbacks) ResetStream()                          { c.unexpected = "reset" }
func (c *benchCallbacks) StreamInfo() *httpfilter.StreamInfo    { return &c.info }
func (c *benchCallbacks) RequestHeaders() *httpfilter.Headers   { return c.req }
func (c *benchCallbacks) ResponseHeaders() *httpfilter.Headers  { return c.resp }
func (c *benchCallbacks) ResponseTrailers() *httpfilter.Headers { return nil }

// primaryExchange is one request and its response as the manager sees them.
type primaryExchange struct {
	req, resp *httpfilter.Headers
	body      [][]byte
}

func newPrimaryExchange(body []byte) *primaryExchange {
	if len(body) > 6*benchChunk {
		panic("primaryExchange: body too large for its status array")
	}
	return &primaryExchange{
		req: headers(":method", "GET", ":path", "/api/items?page=1", ":authority", "shop.local:8080", ":scheme", "http",
			"user-agent", "bench/1.0", "accept", "application/json", "x-request-id", ""),
		resp: headers(":status", "200", "content-type", "application/json", "content-length", strconv.Itoa(len(body)),
			"date", "Mon, 02 Jan 2006 15:04:05 GMT", "server", "shop", "cache-control", "no-store"),
		body: chunks(body),
	}
}

// phases are the wall time of one stream's callbacks: those on the request
// path (request and response headers, body chunks) and proxy_on_done, which
// runs after the client has its response.
type phases struct{ path, done time.Duration }

// run drives one stream through a new filter of f: request headers (GET,
// no body), response headers, the body chunks, the access log and
// Destroy, which runs proxy_on_done where the digest is computed.
func (e *primaryExchange) run(f httpfilter.Factory, id string) (phases, error) {
	cb := &benchCallbacks{info: httpfilter.StreamInfo{
		StartTime: time.Now(), Protocol: "HTTP/1.1", RouteName: "shop", ClusterName: "app",
		ListenerName: "inbound_primary", VirtualHostName: "shop",
	}}
	cb.req, cb.resp = e.req.Clone(), e.resp.Clone()
	cb.req.Set("x-request-id", id)
	flt := f.NewFilter(cb)
	var st [8]httpfilter.Status
	t0 := time.Now()
	st[0] = flt.DecodeHeaders(cb.req, true)
	st[1] = flt.EncodeHeaders(cb.resp, false)
	for i, c := range e.body {
		st[2+i] = flt.EncodeData(&httpfilter.Buffer{Data: c}, i == len(e.body)-1)
	}
	t1 := time.Now()
	flt.Log()
	flt.Destroy()
	ph := phases{path: t1.Sub(t0), done: time.Since(t1)}
	for i, s := range st {
		if s != httpfilter.Continue {
			return ph, fmt.Errorf("stream %s: callback %d returned %v, want Continue", id, i, s)
		}
	}
	if cb.unexpected != "" {
		return ph, fmt.Errorf("stream %s: filter asked for %s", id, cb.unexpected)
	}
	return ph, nil
}

// add accumulates q.
func (p *phases) add(q phases) { p.path += q.path; p.done += q.done }

// report adds the mean of each phase over n streams to b's results.
func (p phases) report(b *testing.B, n uint64) {
	b.ReportMetric(float64(p.path.Nanoseconds())/1e3/float64(n), "path-µs/op")
	b.ReportMetric(float64(p.done.Nanoseconds())/1e3/float64(n), "done-µs/op")
}

// threadCPU returns the CPU time the calling thread has used. Around a
// loop run with runtime.LockOSThread it is the CPU of the guest calls made
// on it, whatever else competes for the cores.
func threadCPU(tb testing.TB) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		tb.Fatalf("thread CPU clock: %v", err)
	}
	return time.Duration(ts.Nano())
}

// streamLoop runs ex through f once per b.Loop iteration, on one locked OS
// thread, and reports the mean wall time of the request path and of
// proxy_on_done and the thread's CPU time, per stream. It returns the
// number of streams.
func streamLoop(b *testing.B, f httpfilter.Factory, ex *primaryExchange) uint64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var n uint64
	var total phases
	cpu0 := threadCPU(b)
	for b.Loop() {
		n++
		ph, err := ex.run(f, "rid-"+strconv.FormatUint(n, 10))
		if err != nil {
			b.Fatal(err)
		}
		total.add(ph)
	}
	cpu := threadCPU(b) - cpu0
	total.report(b, n)
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(n), "cpu-µs/op")
	return n
}

// metricValue returns the runtime's metric name (0 when undefined).
func metricValue(rt *Runtime, name string) uint64 {
	for _, m := range rt.Metrics() {
		if m.Name == name {
			return m.Value
		}
	}
	return 0
}

// awaitDigests waits until the collector acknowledged or the filter dropped
// n digests; they are flushed every second. It returns the two counts.
func awaitDigests(tb testing.TB, rt *Runtime, n uint64) (acked, dropped uint64) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		acked = metricValue(rt, "shadowdiff.digests_acknowledged")
		dropped = metricValue(rt, "shadowdiff.digests_dropped")
		if acked+dropped >= n {
			return acked, dropped
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %d streams: %d digests acknowledged, %d dropped", n, acked, dropped)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkShadowdiffFilter measures one primary stream through the real
// filter.wasm (filter/) and through a guest whose callbacks do nothing
// (host/), for a 1 KiB and a 64 KiB JSON response. filter minus host is the
// filter's own cost per request. cpu-µs/op is the CPU the stream's guest
// calls used on the benchmark's thread, which holds when other work
// competes for the cores (ns/op does not); path-µs/op and done-µs/op split
// the wall time into the request path and proxy_on_done. The digests' gRPC
// traffic and the collector run on the same cores, as they would beside
// Envoy; every digest must be acknowledged or counted as dropped.
func BenchmarkShadowdiffFilter(b *testing.B) {
	code := buildShadowdiffFilter(b)
	collector := testenv.StartCollector(b)
	for _, size := range []int{1 << 10, 64 << 10} {
		body := testenv.JSONBody(size)
		ex := newPrimaryExchange(body)
		name := strconv.Itoa(size>>10) + "KiB"
		b.Run("filter/"+name, func(b *testing.B) {
			rt, p := loadPlugin(b, code, collector)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			n := streamLoop(b, p, ex)
			acked, dropped := awaitDigests(b, rt, n)
			b.ReportMetric(float64(dropped)/float64(n), "dropped/op")
			b.ReportMetric(float64(acked)/float64(n), "acked/op")
			b.ReportMetric(float64(p.vms[0].mod.Memory().Size())/(1<<20), "guest-MiB")
		})
		b.Run("host/"+name, func(b *testing.B) {
			_, p := loadPlugin(b, noopPlugin(), collector)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			streamLoop(b, p, ex)
		})
	}
}
