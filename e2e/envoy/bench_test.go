package envoy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
)

// BenchmarkProxy compares a request through the harness (no filter) with
// the same request through net/http/httputil.ReverseProxy, for a 1 KiB and
// a 64 KiB response, on loopback with concurrent clients.
func BenchmarkProxy(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		payload := bytes.Repeat([]byte("x"), size)
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(payload)
		}))
		b.Run("harness/"+sizeName(size), func(b *testing.B) {
			srv := startServer(&testing.T{}, testBootstrap(
				[]listenerSpec{{name: "in", routes: route("all", `{prefix: "/"}`, "{cluster: app}")}},
				[]clusterSpec{{"app", app.Listener.Addr().String(), false}}), startOpts{})
			defer srv.Shutdown(b.Context())
			run(b, srv.url("in")+"/bench", size)
		})
		b.Run("reverseproxy/"+sizeName(size), func(b *testing.B) {
			u, _ := url.Parse(app.URL)
			rp := httptest.NewServer(httputil.NewSingleHostReverseProxy(u))
			defer rp.Close()
			run(b, rp.URL+"/bench", size)
		})
		app.Close()
	}
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func run(b *testing.B, url string, size int) {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || n != int64(size) {
				b.Errorf("status %d, %d bytes", resp.StatusCode, n)
				return
			}
		}
	})
}
