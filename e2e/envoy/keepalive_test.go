package envoy

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// postMany sends n sequential 1 KiB POSTs over one keep-alive client and
// checks each answer; it returns how many came with "connection: close".
func postMany(t *testing.T, url string, n, status int, want string) (closed int) {
	t.Helper()
	tr := &http.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	payload := bytes.Repeat([]byte("x"), 1<<10)
	for i := range n {
		resp, err := client.Post(url, "application/json", bytes.NewReader(payload))
		if err != nil {
			t.Fatalf("POST %d of %d: %v", i+1, n, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != status || string(body) != want {
			t.Fatalf("POST %d of %d: %d %q %v, want %d %q", i+1, n, resp.StatusCode, body, err, status, want)
		}
		if resp.Close {
			closed++
		}
	}
	return closed
}

// A proxied request whose body was read whole leaves its connection open:
// stopping the body reader must not touch it (a read deadline set there
// broke the connection the client went on using: its next POST failed).
func TestProxiedPostsShareOneConnection(t *testing.T) {
	app := newBackend(t, false, nil)
	srv := startServer(t, testBootstrap(
		[]listenerSpec{{name: "in", routes: route("all", `{prefix: "/"}`, "{cluster: app}")}},
		[]clusterSpec{{"app", app.addr, false}}), startOpts{})
	const n = 200
	if closed := postMany(t, srv.url("in")+"/orders", n, http.StatusOK, "ok /orders"); closed != 0 {
		t.Errorf("%d of %d responses closed the connection", closed, n)
	}
	if got := srv.stat("http.in.downstream_rq_response_before_rq_complete"); got != 0 {
		t.Errorf("downstream_rq_response_before_rq_complete = %d, want 0", got)
	}
	if got := srv.stat("http.in.downstream_cx_total"); got != 1 {
		t.Errorf("%d requests on a keep-alive client took %d connections, want 1", n, got)
	}
}

// A response that starts before the request is complete closes an HTTP/1
// connection, as Envoy does (here a filter answers on the request
// headers): every request still gets its answer.
func TestResponseBeforeRequestCompleteClosesConnection(t *testing.T) {
	app := newBackend(t, false, nil)
	deny := &factory{testFilter{name: "deny", ev: &events{},
		decodeHeaders: func(f *testFilter, _ *httpfilter.Headers, _ bool) httpfilter.Status {
			f.cb.SendLocalReply(http.StatusForbidden, []byte("no"), nil, "denied")
			return httpfilter.StopIteration
		}}}
	srv := startServer(t, testBootstrap(
		[]listenerSpec{{name: "in", filters: []string{"deny"}, routes: route("all", `{prefix: "/"}`, "{cluster: app}")}},
		[]clusterSpec{{"app", app.addr, false}}), startOpts{filters: map[string]httpfilter.Factory{"deny": deny}})
	const n = 50
	if closed := postMany(t, srv.url("in")+"/orders", n, http.StatusForbidden, "no"); closed != n {
		t.Errorf("%d of %d responses closed the connection, want all", closed, n)
	}
	if got := srv.stat("http.in.downstream_rq_response_before_rq_complete"); got != n {
		t.Errorf("downstream_rq_response_before_rq_complete = %d, want %d", got, n)
	}
	if len(app.requests()) != 0 {
		t.Errorf("the app saw %d requests, want none", len(app.requests()))
	}
}
