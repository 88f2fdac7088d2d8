package proxywasm

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// conformanceWasm is the test guest built once by TestMain; testCacheDir
// is a compilation cache shared by the tests so it is compiled once too.
var (
	conformanceWasm []byte
	testCacheDir    string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "proxywasm-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "conformance.wasm")
	testCacheDir = filepath.Join(dir, "cache")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-buildmode=c-shared", "-o", out, "./testdata/conformance")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build conformance guest: %v\n%s", err, b)
		return 1
	}
	if conformanceWasm, err = os.ReadFile(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// reports collects the guest's "R key=value" log lines and every log record.
type reports struct {
	mu      sync.Mutex
	changed chan struct{}
	values  map[string][]string
	records []slog.Record
}

func newReports() *reports {
	return &reports{changed: make(chan struct{}), values: map[string][]string{}}
}

type reportHandler struct {
	r     *reports
	attrs []slog.Attr
}

func (h reportHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h reportHandler) Handle(_ context.Context, rec slog.Record) error {
	rec = rec.Clone()
	rec.AddAttrs(h.attrs...)
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	h.r.records = append(h.r.records, rec)
	if kv, ok := strings.CutPrefix(rec.Message, "R "); ok {
		k, v, _ := strings.Cut(kv, "=")
		h.r.values[k] = append(h.r.values[k], v)
		close(h.r.changed)
		h.r.changed = make(chan struct{})
	}
	return nil
}

func (h reportHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return reportHandler{r: h.r, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h reportHandler) WithGroup(string) slog.Handler { return h }

func (r *reports) logger() *slog.Logger { return slog.New(reportHandler{r: r}) }

// wait returns the values of key once it has at least n of them. The
// deadline only turns a hang into a failure.
func (r *reports) wait(t *testing.T, key string, n int) []string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		vals, ch := r.values[key], r.changed
		r.mu.Unlock()
		if len(vals) >= n {
			return vals
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("report %q: got %d values %q, want %d", key, len(vals), vals, n)
		}
	}
}

// get returns the last value of key, failing when there is none.
func (r *reports) get(t *testing.T, key string) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	vals := r.values[key]
	if len(vals) == 0 {
		t.Fatalf("no report %q", key)
	}
	return vals[len(vals)-1]
}

func (r *reports) all(key string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.values[key]...)
}

// expect checks the last value of each key.
func (r *reports) expect(t *testing.T, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got := r.get(t, k); got != w {
			t.Errorf("report %s = %q, want %q", k, got, w)
		}
	}
}

// testCallbacks is a minimal httpfilter.Callbacks that records what the
// filter asked for.
type testCallbacks struct {
	mu          sync.Mutex
	info        httpfilter.StreamInfo
	req, resp   *httpfilter.Headers
	respTrailer *httpfilter.Headers
	localReply  []localReply
	continued   [2]int
	resets      int
	events      chan string
}

func newCallbacks() *testCallbacks {
	return &testCallbacks{
		info: httpfilter.StreamInfo{
			StartTime:               time.Unix(1700000000, 5),
			Protocol:                "HTTP/1.1",
			DownstreamRemoteAddress: "10.0.0.1:34567",
			DownstreamLocalAddress:  "10.0.0.2:10000",
			ConnectionID:            42,
			ListenerName:            "front",
			VirtualHostName:         "vh",
			RouteName:               "route-a",
			ClusterName:             "cluster-a",
		},
		events: make(chan string, 16),
	}
}

func (c *testCallbacks) SendLocalReply(status int, body []byte, h *httpfilter.Headers, details string) {
	c.mu.Lock()
	c.localReply = append(c.localReply, localReply{status: status, body: body, headers: h, details: details})
	c.mu.Unlock()
	c.events <- "local_reply"
}

func (c *testCallbacks) ContinueDecoding() {
	c.mu.Lock()
	c.continued[0]++
	c.mu.Unlock()
	c.events <- "continue_decoding"
}

func (c *testCallbacks) ContinueEncoding() {
	c.mu.Lock()
	c.continued[1]++
	c.mu.Unlock()
	c.events <- "continue_encoding"
}

func (c *testCallbacks) ResetStream() {
	c.mu.Lock()
	c.resets++
	c.mu.Unlock()
	c.events <- "reset"
}

func (c *testCallbacks) StreamInfo() *httpfilter.StreamInfo    { return &c.info }
func (c *testCallbacks) RequestHeaders() *httpfilter.Headers   { return c.req }
func (c *testCallbacks) ResponseHeaders() *httpfilter.Headers  { return c.resp }
func (c *testCallbacks) ResponseTrailers() *httpfilter.Headers { return c.respTrailer }

// event waits for the next callback event.
func (c *testCallbacks) event(t *testing.T) string {
	t.Helper()
	select {
	case e := <-c.events:
		return e
	case <-time.After(20 * time.Second):
		t.Fatal("no callback event")
		return ""
	}
}

func headers(kv ...string) *httpfilter.Headers {
	h := &httpfilter.Headers{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func requestHeaders(testCase string, kv ...string) *httpfilter.Headers {
	return headers(append([]string{":method", "GET", ":path", "/p?q=1", ":authority", "app.test",
		":scheme", "http", "x-request-id", "rid-1", "x-case", testCase}, kv...)...)
}

// harness is a runtime with a reports logger.
type harness struct {
	rt  *Runtime
	rep *reports
}

func newHarness(t *testing.T, opts RuntimeOptions) *harness {
	t.Helper()
	rep := newReports()
	opts.Logger = rep.logger()
	if opts.CompilationCacheDir == "" {
		opts.CompilationCacheDir = testCacheDir
	}
	rt, err := NewRuntime(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Close(context.Background()); err != nil {
			t.Errorf("close runtime: %v", err)
		}
	})
	return &harness{rt: rt, rep: rep}
}

func (h *harness) load(t *testing.T, cfg PluginConfig) *Plugin {
	t.Helper()
	if cfg.Code == nil {
		cfg.Code = conformanceWasm
	}
	if cfg.Name == "" {
		cfg.Name = "conformance"
	}
	p, err := h.rt.Load(context.Background(), cfg)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return p
}
