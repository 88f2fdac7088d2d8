package envoy

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestProxiesAndGeneratesRequestID(t *testing.T) {
	app := newBackend(t, false, nil)
	srv := startServer(t, testBootstrap(
		[]listenerSpec{{name: "in", routes: route("all", `{prefix: "/"}`, "{cluster: app}")}},
		[]clusterSpec{{"app", app.addr, false}}), startOpts{})

	resp, body := get(t, srv.url("in")+"/users/7?x=1", map[string]string{"User-Agent": "ua-test"})
	if resp.StatusCode != 200 || body != "ok /users/7" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Server"); got != "envoy" {
		t.Errorf("server header %q, want envoy", got)
	}
	if resp.Header.Get("X-Envoy-Upstream-Service-Time") == "" {
		t.Error("no x-envoy-upstream-service-time")
	}
	_, _ = get(t, srv.url("in")+"/keep", map[string]string{"X-Request-Id": "given-id"})

	reqs := app.requests()
	if len(reqs) != 2 {
		t.Fatalf("backend saw %d requests, want 2", len(reqs))
	}
	first := reqs[0]
	if first.Path != "/users/7?x=1" || first.Host != srv.Addrs()["in"] {
		t.Errorf("path %q host %q", first.Path, first.Host)
	}
	if id := first.Header.Get("X-Request-Id"); !uuidV4.MatchString(id) {
		t.Errorf("generated x-request-id %q is not a UUID v4", id)
	}
	if got := first.Header.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("x-forwarded-proto %q", got)
	}
	if got := first.Header.Get("User-Agent"); got != "ua-test" {
		t.Errorf("user-agent %q", got)
	}
	if got := first.Header.Get("X-Envoy-Expected-Rq-Timeout-Ms"); got != "15000" {
		t.Errorf("expected timeout header %q, want the default 15000", got)
	}
	if got := reqs[1].Header.Get("X-Request-Id"); got != "given-id" {
		t.Errorf("x-request-id %q, want the client's", got)
	}
	// Access log: one record per request, written after the response.
	srv.drain(t)
	if n := strings.Count(srv.logs.String(), "msg=access"); n != 2 {
		t.Errorf("%d access log records, want 2:\n%s", n, srv.logs.String())
	}
	if !strings.Contains(srv.logs.String(), "request_id=given-id") {
		t.Errorf("access log lacks the request id:\n%s", srv.logs.String())
	}
}

func TestRequestIDGenerationCanBeDisabled(t *testing.T) {
	app := newBackend(t, false, nil)
	srv := startServer(t, testBootstrap(
		[]listenerSpec{{name: "in", routes: route("all", `{prefix: "/"}`, "{cluster: app}"),
			extraHCM: "          generate_request_id: false\n"}},
		[]clusterSpec{{"app", app.addr, false}}), startOpts{})
	get(t, srv.url("in")+"/", nil)
	if got := app.requests()[0].Header.Get("X-Request-Id"); got != "" {
		t.Errorf("x-request-id %q generated with generate_request_id: false", got)
	}
}

func TestRouteMatchingAndRewrite(t *testing.T) {
	a := newBackend(t, false, nil)
	b := newBackend(t, false, nil)
	c := newBackend(t, false, nil)
	routes := route("by-header", `{prefix: "/", headers: [{name: x-version, string_match: {exact: v2}}]}`, "{cluster: b}") +
		route("exact", `{path: "/exact"}`, "{cluster: c}") +
		route("regex", `{safe_regex: {regex: "/items/[0-9]+"}}`, "{cluster: c}") +
		route("api", `{prefix: "/api/"}`, `{cluster: a, prefix_rewrite: "/v1/"}`)
	srv := startServer(t, testBootstrap([]listenerSpec{{name: "in", routes: routes}},
		[]clusterSpec{{"a", a.addr, false}, {"b", b.addr, false}, {"c", c.addr, false}}), startOpts{})

	cases := []struct {
		path   string
		hdr    map[string]string
		status int
		want   *backend
		seen   string
	}{
		{"/api/users?q=1", nil, 200, a, "/v1/users?q=1"},
		{"/anything", map[string]string{"X-Version": "v2"}, 200, b, "/anything"},
		{"/exact?z=1", nil, 200, c, "/exact?z=1"},
		{"/items/42", nil, 200, c, "/items/42"},
		{"/items/42x", nil, 404, nil, ""},
		{"/exactly", nil, 404, nil, ""},
	}
	for _, tc := range cases {
		before := 0
		if tc.want != nil {
			before = len(tc.want.requests())
		}
		resp, _ := get(t, srv.url("in")+tc.path, tc.hdr)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.path, resp.StatusCode, tc.status)
			continue
		}
		if tc.want == nil {
			continue
		}
		reqs := tc.want.requests()
		if len(reqs) != before+1 {
			t.Errorf("%s: went to the wrong cluster", tc.path)
			continue
		}
		if got := reqs[len(reqs)-1]; got.Path != tc.seen {
			t.Errorf("%s: upstream path %q, want %q", tc.path, got.Path, tc.seen)
		}
	}
	if got := a.requests()[0].Header.Get("X-Envoy-Original-Path"); got != "/api/users?q=1" {
		t.Errorf("x-envoy-original-path %q", got)
	}
	if n := srv.stat("http.in.no_route"); n != 2 {
		t.Errorf("no_route = %d, want 2", n)
	}
}

func TestUpstreamFailuresAreLocalReplies(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	slow := newRawBackend(t, false, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	routes := route("dead", `{prefix: "/dead"}`, "{cluster: dead}") +
		route("slow", `{prefix: "/slow"}`, "{cluster: slow, timeout: 0.05s}")
	srv := startServer(t, testBootstrap([]listenerSpec{{name: "in", routes: routes}},
		[]clusterSpec{{"dead", deadAddr(t), false}, {"slow", slow, false}}), startOpts{})

	resp, body := get(t, srv.url("in")+"/dead", nil)
	if resp.StatusCode != 503 || !strings.HasPrefix(body, "upstream connect error or disconnect/reset before headers. reset reason: connection failure") {
		t.Errorf("dead upstream: %d %q", resp.StatusCode, body)
	}
	if srv.stat("cluster.dead.upstream_cx_connect_fail") != 1 {
		t.Errorf("upstream_cx_connect_fail = %d", srv.stat("cluster.dead.upstream_cx_connect_fail"))
	}
	resp, body = get(t, srv.url("in")+"/slow", nil)
	if resp.StatusCode != 504 || body != "upstream request timeout" {
		t.Errorf("timeout: %d %q", resp.StatusCode, body)
	}
	if srv.stat("cluster.slow.upstream_rq_timeout") != 1 {
		t.Errorf("upstream_rq_timeout = %d", srv.stat("cluster.slow.upstream_rq_timeout"))
	}
	srv.drain(t)
	logs := srv.logs.String()
	if !strings.Contains(logs, "response_flags=UF") || !strings.Contains(logs, "response_flags=UT") {
		t.Errorf("access log lacks UF/UT flags:\n%s", logs)
	}
}

func TestPathAndQueryPassByteForByte(t *testing.T) {
	app := newBackend(t, false, nil)
	srv := startServer(t, testBootstrap(
		[]listenerSpec{{name: "in", routes: route("all", `{prefix: "/"}`, "{cluster: app}")}},
		[]clusterSpec{{"app", app.addr, false}}), startOpts{})
	for _, p := range []string{"/a%2Fb/c?x=%20&y=1&y=2", "/caf%C3%A9?q=a+b", "//double/slash?", "/semi;colon?k=v%3D"} {
		conn, err := net.Dial("tcp", srv.Addrs()["in"])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n", p)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		conn.Close()
		reqs := app.requests()
		if got := reqs[len(reqs)-1].Path; got != p {
			t.Errorf("upstream request URI %q, want %q", got, p)
		}
	}
}
