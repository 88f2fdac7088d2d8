package envoy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
)

// clusterSpec is a STATIC test cluster.
type clusterSpec struct {
	name, addr string
	http2      bool
}

// listenerSpec is a test listener on a free port.
type listenerSpec struct {
	name        string
	routes      string   // YAML of virtual_hosts' routes, indented for a route list
	filters     []string // names of test filters (Wasm filter configs)
	bufferLimit int
	extraHCM    string // extra HCM fields
}

const indentRoutes = "                "

// testBootstrap renders a bootstrap with the given listeners and clusters.
func testBootstrap(ls []listenerSpec, cs []clusterSpec) string {
	var b strings.Builder
	b.WriteString("admin:\n  address: {socket_address: {address: 127.0.0.1, port_value: 0}}\nstatic_resources:\n  listeners:\n")
	for _, l := range ls {
		fmt.Fprintf(&b, `  - name: %s
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
`, l.name)
		if l.bufferLimit > 0 {
			fmt.Fprintf(&b, "    per_connection_buffer_limit_bytes: %d\n", l.bufferLimit)
		}
		fmt.Fprintf(&b, `    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: %s
%s          access_log:
          - name: envoy.access_loggers.stdout
            typed_config: {"@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog}
          route_config:
            name: %s
            virtual_hosts:
            - name: vh
              domains: ["*"]
              routes:
%s
          http_filters:
`, l.name, l.extraHCM, l.name, strings.TrimRight(l.routes, "\n"))
		for _, f := range l.filters {
			fmt.Fprintf(&b, `          - name: %s
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: %s
                root_id: %s
                failure_policy: FAIL_OPEN
                vm_config:
                  vm_id: %s
                  code: {local: {inline_string: "test"}}
                configuration: {"@type": type.googleapis.com/google.protobuf.StringValue, value: "{}"}
`, f, f, f, f)
		}
		b.WriteString(`          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
`)
	}
	b.WriteString("  clusters:\n")
	for _, c := range cs {
		host, port, _ := net.SplitHostPort(c.addr)
		fmt.Fprintf(&b, `  - name: %s
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: %s
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: %s, port_value: %s}}}
`, c.name, c.name, host, port)
		if c.http2 {
			b.WriteString(`    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
`)
		}
	}
	return b.String()
}

// route renders one route entry for listenerSpec.routes.
func route(name, match, action string) string {
	return fmt.Sprintf("%s- name: %s\n%s  match: %s\n%s  route: %s\n", indentRoutes, name, indentRoutes, match, indentRoutes, action)
}

// testServer is a running Server with test hooks.
type testServer struct {
	*Server
	logs *testenv.SyncBuffer
}

type startOpts struct {
	filters  map[string]httpfilter.Factory
	streamID func() uint64
	extra    func() []Stat
}

func startServer(t *testing.T, yaml string, o startOpts) *testServer {
	t.Helper()
	cfg, err := Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, yaml)
	}
	logs := &testenv.SyncBuffer{}
	srv, err := Start(context.Background(), cfg, Options{
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		AccessLogger: slog.New(slog.NewTextHandler(logs, nil)),
		StreamID:     o.streamID,
		ExtraStats:   o.extra,
		WasmLoader: func(_ context.Context, _ httpfilter.Clusters, wc *WasmConfig) (httpfilter.Factory, error) {
			f, ok := o.filters[wc.Name]
			if !ok {
				return nil, fmt.Errorf("no test filter %q", wc.Name)
			}
			return f, nil
		},
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	shutdownAtCleanup(t, srv)
	return &testServer{Server: srv, logs: logs}
}

// shutdownAtCleanup shuts srv down when the test ends and reports a
// shutdown that fails.
func shutdownAtCleanup(tb testing.TB, srv *Server) {
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	})
}

func (s *testServer) url(listener string) string { return "http://" + s.Addrs()[listener] }

// drain waits for every in-flight mirror: Shutdown waits for them.
func (s *testServer) drain(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func (s *testServer) stat(name string) uint64 {
	for _, st := range s.Stats() {
		if st.Name == name {
			return st.Value
		}
	}
	return 0
}

// awaitStat waits until a statistic has the value want.
func (s *testServer) awaitStat(t *testing.T, name string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for s.stat(name) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d after %v, want %d", name, s.stat(name), guard, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// seen is a request as a backend saw it.
type seen struct {
	Method, Path, Host string
	Header             http.Header
	Body               []byte
	Proto              int
}

// backend is a real HTTP server on 127.0.0.1:0 that records requests.
type backend struct {
	addr    string
	mu      sync.Mutex
	reqs    []seen
	handler func(w http.ResponseWriter, r *http.Request, body []byte)
}

func newBackend(t *testing.T, h2c bool, handler func(w http.ResponseWriter, r *http.Request, body []byte)) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{addr: ln.Addr().String(), handler: handler}
	srv := &http.Server{Handler: b}
	if h2c {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.reqs = append(b.reqs, seen{r.Method, r.RequestURI, r.Host, r.Header.Clone(), body, r.ProtoMajor})
	b.mu.Unlock()
	if b.handler != nil {
		b.handler(w, r, body)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte("ok " + r.URL.Path))
}

func (b *backend) requests() []seen {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seen(nil), b.reqs...)
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(body)
}

func itoa(n int) string { return strconv.Itoa(n) }

// newRawBackend serves h on 127.0.0.1:0 and returns its address.
func newRawBackend(t *testing.T, h2c bool, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	if h2c {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// deadAddr returns an address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
