package envoy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/internal/testenv"
)

// sidecarClients is the number of concurrent closed-loop clients.
const sidecarClients = 4

// sidecarTarget is one way to reach the app; requests counts what was sent
// through it, digests (when set) is the Wasm host whose filter digests it.
type sidecarTarget struct {
	name     string
	url      string
	digests  *wasmHost
	requests atomic.Uint64
}

// BenchmarkSidecar compares, side by side, GET requests through the Envoy
// subset running the shadowdiff filter in the primary role (filter),
// through the same listener without it (nofilter), and through
// httputil.ReverseProxy (reverseproxy), for a 1 KiB and a 64 KiB JSON
// response. sidecarClients clients loop on keep-alive connections; each
// result has req/s and the p50 and p99 latency in µs. For filter, every
// request's digest must be acknowledged by the collector or counted as
// dropped (dropped/op reports which).
func BenchmarkSidecar(b *testing.B) {
	wasm := testenv.FilterWasm(b)
	collector := testenv.StartCollector(b)
	cacheDir := b.TempDir()
	for _, size := range []int{1 << 10, 64 << 10} {
		body := testenv.JSONBody(size)
		app := jsonApp(b, body)
		appAddr := app.Listener.Addr().String()
		appURL, _ := url.Parse(app.URL)
		rp := httputil.NewSingleHostReverseProxy(appURL)
		// The same pool settings as the subset's clusters.
		rp.Transport = &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
		rpServer := httptest.NewServer(rp)
		b.Cleanup(rpServer.Close)

		filtered := &wasmHost{cacheDir: cacheDir}
		targets := []*sidecarTarget{
			{name: "filter", url: startSidecar(b, sidecarBootstrap(appAddr, collector, wasm), filtered), digests: filtered},
			{name: "nofilter", url: startSidecar(b, sidecarBootstrap(appAddr, collector, ""), &wasmHost{})},
			{name: "reverseproxy", url: rpServer.URL},
		}
		for _, t := range targets {
			b.Run(fmt.Sprintf("%s/%dKiB", t.name, size>>10), func(b *testing.B) {
				lat := loadSidecar(b, t.url+"/api/items?page=1", len(body))
				t.requests.Add(uint64(b.N))
				reportLatency(b, lat)
				if t.digests != nil {
					acked, dropped := awaitSidecarDigests(b, t.digests, t.requests.Load())
					_ = acked
					b.ReportMetric(float64(dropped)/float64(t.requests.Load()), "dropped/op")
				}
			})
		}
	}
}

// loadSidecar sends b.N GETs to url from sidecarClients goroutines, checks
// every response, and returns each request's latency. It reports req/s.
func loadSidecar(b *testing.B, url string, size int) []time.Duration {
	tr := &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var mu sync.Mutex
	var all []time.Duration
	b.SetParallelism((sidecarClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var lat []time.Duration
		defer func() {
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
		for pb.Next() {
			t0 := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat = append(lat, time.Since(t0))
			if err != nil || resp.StatusCode != http.StatusOK || n != int64(size) {
				b.Errorf("status %d, %d of %d bytes, %v", resp.StatusCode, n, size, err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	return all
}

// reportLatency reports the p50 and p99 of lat in µs.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q int) float64 { return float64(lat[min(len(lat)-1, len(lat)*q/100)].Nanoseconds()) / 1e3 }
	b.ReportMetric(at(50), "p50-µs")
	b.ReportMetric(at(99), "p99-µs")
}

// awaitSidecarDigests waits until the collector acknowledged or the filter
// dropped n digests (the filter flushes every second).
func awaitSidecarDigests(b *testing.B, h *wasmHost, n uint64) (acked, dropped uint64) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		acked = h.metric("shadowdiff.digests_acknowledged")
		dropped = h.metric("shadowdiff.digests_dropped")
		if acked+dropped >= n {
			return acked, dropped
		}
		if time.Now().After(deadline) {
			b.Fatalf("after %d requests: %d digests acknowledged, %d dropped", n, acked, dropped)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkLargeResponse is the latency of one 1 MiB JSON response through
// the sidecar: without the filter (off), with it (on), and with it
// capturing no body (on,max_body_bytes=1), one request at a time. With
// spaced=false the next request goes at once and may meet the previous
// response's digest on the VM's tick; with spaced=true it waits 150 ms
// (untimed), so the digest is done. ms/response is the mean of b.N.
func BenchmarkLargeResponse(b *testing.B) {
	wasm := testenv.FilterWasm(b)
	collector := testenv.StartCollector(b)
	body := testenv.JSONBody(1 << 20)
	appAddr := jsonApp(b, body).Listener.Addr().String()
	capped := strings.Replace(sidecarBootstrap(appAddr, collector, wasm),
		`"collector":{"cluster":"shadowdiff-collector"}`, `"collector":{"cluster":"shadowdiff-collector"},"body":{"max_body_bytes":1}`, 1)
	modes := []struct{ name, yaml string }{
		{"off", sidecarBootstrap(appAddr, collector, "")},
		{"on", sidecarBootstrap(appAddr, collector, wasm)},
		{"on,max_body_bytes=1", capped},
	}
	for _, m := range modes {
		url := startSidecar(b, m.yaml, &wasmHost{cacheDir: b.TempDir()}) + "/api/report"
		for _, spaced := range []bool{false, true} {
			b.Run(fmt.Sprintf("mode=%s/spaced=%t", m.name, spaced), func(b *testing.B) {
				client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
				defer client.CloseIdleConnections()
				var total time.Duration
				for i := range b.N {
					if spaced {
						time.Sleep(150 * time.Millisecond)
					}
					req, _ := http.NewRequest("GET", url, nil)
					req.Header.Set("x-request-id", fmt.Sprintf("large-%t-%d", spaced, i))
					t0 := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					total += time.Since(t0)
					if err != nil || n != int64(len(body)) {
						b.Fatalf("%d of %d bytes: %v", n, len(body), err)
					}
				}
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(float64(total.Microseconds())/1e3/float64(b.N), "ms/response")
			})
		}
	}
}

// jsonApp serves body as JSON to every request.
func jsonApp(b *testing.B, body []byte) *httptest.Server {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}))
	b.Cleanup(app.Close)
	return app
}
