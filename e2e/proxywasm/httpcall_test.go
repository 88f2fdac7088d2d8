package proxywasm

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// seenRequest is what the upstream saw of a proxy_http_call.
type seenRequest struct {
	method, uri, host, from, body, trailer, proto string
}

func callUpstream(t *testing.T, h2 bool) (addr string, seen chan seenRequest) {
	t.Helper()
	seen = make(chan seenRequest, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen <- seenRequest{r.Method, r.RequestURI, r.Host, r.Header.Get("x-from"), string(body), r.Trailer.Get("x-trailer"), r.Proto}
		w.Header().Set("Trailer", "x-resp-trailer")
		w.Header().Set("x-upstream", "up")
		w.WriteHeader(201)
		_, _ = w.Write([]byte("pong"))
		w.Header().Set("x-resp-trailer", "rt")
	}))
	if h2 {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		srv.Config.Protocols = &p
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), seen
}

func TestHTTPCallResumesTheStream(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		name := map[bool]string{false: "http1", true: "h2c"}[h2]
		t.Run(name, func(t *testing.T) {
			addr, seen := callUpstream(t, h2)
			h := newHarness(t, RuntimeOptions{Workers: 1, Clusters: testClusters{"up": newTestCluster("up", h2, addr)}})
			p := h.load(t, PluginConfig{})
			cb := newCallbacks()
			f := p.NewFilter(cb)
			req := requestHeaders("async-continue", "x-cluster", "up")
			if st := f.DecodeHeaders(req, false); st != httpfilter.StopIteration {
				t.Fatalf("DecodeHeaders = %v", st)
			}
			if e := cb.event(t); e != "continue_decoding" {
				t.Fatalf("event %q, want continue_decoding", e)
			}
			// Like Envoy (http1 enable_trailers defaults to false), request
			// trailers only reach an HTTP/2 upstream.
			want := seenRequest{"POST", "/call?x=1", "upstream.test", "wasm", "ping", "", "HTTP/1.1"}
			if h2 {
				want.trailer, want.proto = "t1", "HTTP/2.0"
			}
			if got := <-seen; got != want {
				t.Errorf("upstream saw %+v", got)
			}
			counts := strings.Split(h.rep.get(t, "call.counts"), ":")
			if counts[0] != "true" || counts[1] == "0" || counts[2] != "4" || counts[3] != "1" {
				t.Errorf("call.counts = %v (root, headers, body, trailers)", counts)
			}
			h.rep.expect(t, map[string]string{
				"call.start":           "0:0", // id ≡ 0 mod 4 for an http call
				"call.status":          "201",
				"call.header":          "up",
				"call.body":            "pong",
				"call.trailers":        "0:x-resp-trailer:rt",
				"call.get_status":      "0:0:",
				"call.req_map_in_root": "2",
				"call.effective":       "0",
				"call.add_req_header":  "0", // the paused request map stays available
				"call.continue":        "0",
			})
			if v, _ := req.Get("x-call-status"); v != "201" {
				t.Errorf("request header x-call-status = %q", v)
			}
		})
	}
}

func TestHTTPCallErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	addr, _ := callUpstream(t, false)
	h := newHarness(t, RuntimeOptions{Workers: 1, Clusters: testClusters{
		"up":   newTestCluster("up", false, addr),
		"down": newTestCluster("down", false, down),
	}})
	p := h.load(t, PluginConfig{})
	p.NewFilter(newCallbacks()).DecodeHeaders(requestHeaders("http-call-errors", "x-cluster", "up"), true)
	h.rep.expect(t, map[string]string{
		"callerr.unknown_cluster":  "2",
		"callerr.no_path":          "2",
		"callerr.negative_timeout": "2",
		"callerr.down_start":       "0",
	})
	// A connection failure comes back as Envoy's local 503, not as a failed call.
	h.rep.wait(t, "call.req_map_in_root", 1) // the response callback's last report
	if got := h.rep.get(t, "call.status"); got != "503" {
		t.Errorf("call.status = %q", got)
	}
	if body := h.rep.get(t, "call.body"); !strings.HasPrefix(body, "upstream connect error") {
		t.Errorf("call.body = %q", body)
	}
}

func TestHTTPCallResumesTheResponse(t *testing.T) {
	addr, _ := callUpstream(t, false)
	h := newHarness(t, RuntimeOptions{Workers: 1, Clusters: testClusters{"up": newTestCluster("up", false, addr)}})
	p := h.load(t, PluginConfig{})
	cb := newCallbacks()
	f := p.NewFilter(cb)
	f.DecodeHeaders(requestHeaders("async-continue-response", "x-cluster", "up"), true)
	resp := headers(":status", "200")
	if st := f.EncodeHeaders(resp, false); st != httpfilter.StopIteration {
		t.Fatalf("EncodeHeaders = %v", st)
	}
	if e := cb.event(t); e != "continue_encoding" {
		t.Fatalf("event %q, want continue_encoding", e)
	}
	h.rep.expect(t, map[string]string{"call.add_req_header": "0", "call.continue": "0"})
	if v, _ := resp.Get("x-call-status"); v != "201" {
		t.Errorf("response header x-call-status = %q", v)
	}
}
