//go:build unix

package envoy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
)

// cpuCase is one request shape of BenchmarkSidecarCPU.
type cpuCase struct {
	name     string
	method   string
	reqBody  int // request body bytes (0: none)
	respSize int
}

// BenchmarkSidecarCPU measures the CPU time the Envoy subset spends per
// proxied request, without filters: through a plain route (nofilter) and
// through a route mirroring every request to two shadow clusters (mirror2,
// which waits for the shadows to finish). The apps run in a child process,
// so the process's CPU is the client's and the sidecar's; direct sends the
// same requests straight to the app, and proxy-cpu-µs/op is cpu-µs/op less
// direct's for the same shape (measured just before, in the same run).
// nofilter+accesslog adds the listener's access log as bin/sidecar writes
// it (slog text, one unbuffered write per record, here to /dev/null);
// reverseproxy is httputil.ReverseProxy in the same process, for scale.
func BenchmarkSidecarCPU(b *testing.B) {
	apps := startBenchApps(b)
	srv := startCPUSidecar(b, apps)
	appURL, _ := url.Parse("http://" + apps[0])
	rp := httputil.NewSingleHostReverseProxy(appURL)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
	rpServer := httptest.NewServer(rp)
	b.Cleanup(rpServer.Close)
	cases := []cpuCase{
		{"GET-1KiB", http.MethodGet, 0, 1 << 10},
		{"GET-64KiB", http.MethodGet, 0, 64 << 10},
		{"POST-1KiB", http.MethodPost, 1 << 10, 1 << 10},
	}
	for _, c := range cases {
		query := fmt.Sprintf("/api/items?size=%d", c.respSize)
		var direct float64
		b.Run("direct/"+c.name, func(b *testing.B) {
			direct = cpuLoad(b, c, "http://"+apps[0]+query, nil)
		})
		b.Run("nofilter/"+c.name, func(b *testing.B) {
			cpu := cpuLoad(b, c, "http://"+srv.Addrs()["plain"]+query, nil)
			b.ReportMetric(cpu-direct, "proxy-cpu-µs/op")
		})
		b.Run("nofilter+accesslog/"+c.name, func(b *testing.B) {
			cpu := cpuLoad(b, c, "http://"+srv.Addrs()["logged"]+query, nil)
			b.ReportMetric(cpu-direct, "proxy-cpu-µs/op")
		})
		b.Run("reverseproxy/"+c.name, func(b *testing.B) {
			cpu := cpuLoad(b, c, rpServer.URL+query, nil)
			b.ReportMetric(cpu-direct, "proxy-cpu-µs/op")
		})
		b.Run("mirror2/"+c.name, func(b *testing.B) {
			shadows := func() uint64 {
				return stat(srv, "cluster.shadow-a.upstream_rq_completed") + stat(srv, "cluster.shadow-b.upstream_rq_completed")
			}
			before := shadows()
			cpu := cpuLoad(b, c, "http://"+srv.Addrs()["mirror"]+query, srv)
			b.ReportMetric(cpu-direct, "proxy-cpu-µs/op")
			mirrored := float64(shadows()-before) / float64(b.N)
			b.ReportMetric(mirrored, "mirrored/op")
			if mirrored != 2 {
				b.Errorf("%.3f shadow requests completed per request, want 2", mirrored)
			}
		})
	}
}

// cpuLoad sends b.N requests of shape c from sidecarClients goroutines
// to target, waits for srv's shadows (if srv is set), and returns and
// reports the process CPU time per request in µs.
func cpuLoad(b *testing.B, c cpuCase, target string, srv *Server) float64 {
	tr := &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	reqBody := bytes.Repeat([]byte("x"), c.reqBody)
	want := int64(len(testenv.JSONBody(c.respSize))) // what the bench apps answer
	b.SetParallelism((sidecarClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	start := processCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var body io.Reader
			if c.reqBody > 0 {
				body = bytes.NewReader(reqBody)
			}
			req, err := http.NewRequest(c.method, target, body)
			if err != nil {
				b.Error(err)
				return
			}
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || n != want {
				b.Errorf("status %d, %d of %d bytes, %v", resp.StatusCode, n, want, err)
				return
			}
		}
	})
	if srv != nil {
		srv.mirrorsRunning.Wait() // the shadows' CPU belongs to the request
	}
	cpu := float64((processCPU(b) - start).Nanoseconds()) / 1e3 / float64(b.N)
	b.StopTimer()
	b.ReportMetric(cpu, "cpu-µs/op")
	return cpu
}

// processCPU is the user and system CPU time the process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func stat(srv *Server, name string) uint64 {
	for _, s := range srv.Stats() {
		if s.Name == name {
			return s.Value
		}
	}
	return 0
}

// startCPUSidecar runs listeners without filters: "plain" routes to
// apps[0]; "logged" too, with an access log; "mirror" routes there too and
// mirrors every request to apps[1] and apps[2] (clusters shadow-a and
// shadow-b).
func startCPUSidecar(b *testing.B, apps []string) *Server {
	b.Helper()
	listener := func(name, accessLog, mirrors string) string {
		return fmt.Sprintf(`
  - name: %[1]s
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: %[1]s%[3]s
          route_config:
            name: %[1]s
            virtual_hosts:
            - name: shop
              domains: ["*"]
              routes:
              - name: shop
                match: {prefix: "/"}
                route: {cluster: app, timeout: 15s%[2]s}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}`, name, mirrors, accessLog)
	}
	cluster := func(name, addr string) string {
		host, port, _ := net.SplitHostPort(addr)
		return fmt.Sprintf(`
  - name: %[1]s
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: %[1]s
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: %[2]s, port_value: %[3]s}}}`, name, host, port)
	}
	yaml := "static_resources:\n  listeners:" +
		listener("plain", "", "") +
		listener("logged", `
          access_log:
          - name: envoy.access_loggers.stdout
            typed_config: {"@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog}`, "") +
		listener("mirror", "", ", request_mirror_policies: [{cluster: shadow-a}, {cluster: shadow-b}]") +
		"\n  clusters:" + cluster("app", apps[0]) + cluster("shadow-a", apps[1]) + cluster("shadow-b", apps[2]) + "\n"
	cfg, err := Parse([]byte(yaml))
	if err != nil {
		b.Fatalf("parse: %v\n%s", err, strings.TrimSpace(yaml))
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { devNull.Close() })
	srv, err := Start(context.Background(), cfg, Options{AccessLogger: slog.New(slog.NewTextHandler(devNull, nil))})
	if err != nil {
		b.Fatalf("start: %v", err)
	}
	shutdownAtCleanup(b, srv)
	return srv
}
