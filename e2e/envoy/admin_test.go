package envoy

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

func adminGet(t *testing.T, srv *testServer, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + srv.AdminAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminStatsAndReady(t *testing.T) {
	app := newBackend(t, false, nil)
	srv := startServer(t, testBootstrap(
		[]listenerSpec{{name: "in", routes: route("all", `{prefix: "/"}`, "{cluster: app}")}},
		[]clusterSpec{{"app", app.addr, false}}),
		startOpts{extra: func() []Stat { return []Stat{{"wasmcustom.shadowdiff.digests_sent", 7}} }})
	for range 3 {
		get(t, srv.url("in")+"/", nil)
	}
	// A client can have the whole response before its stream finished (the
	// response statistics are counted then, as in Envoy).
	srv.awaitStat(t, "http.in.downstream_rq_active", 0)
	if code, body := adminGet(t, srv, "/ready"); code != 200 || body != "LIVE\n" {
		t.Errorf("/ready: %d %q", code, body)
	}
	_, body := adminGet(t, srv, "/stats")
	for _, want := range []string{
		"http.in.downstream_rq_total: 3\n",
		"http.in.downstream_rq_2xx: 3\n",
		"cluster.app.upstream_rq_total: 3\n",
		"cluster.app.upstream_rq_2xx: 3\n",
		"server.live: 1\n",
		"wasmcustom.shadowdiff.digests_sent: 7\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/stats lacks %q:\n%s", want, body)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if name, _, ok := strings.Cut(line, ": "); !ok || strings.ContainsAny(name, " \t") {
			t.Errorf("/stats line %q is not \"name: value\"", line)
		}
	}
	_, filtered := adminGet(t, srv, "/stats?filter=^wasmcustom%5C.")
	if filtered != "wasmcustom.shadowdiff.digests_sent: 7\n" {
		t.Errorf("/stats?filter: %q", filtered)
	}
	if code, _ := adminGet(t, srv, "/stats?filter=("); code != http.StatusBadRequest {
		t.Errorf("bad filter: %d", code)
	}
	srv.drain(t)
	if code, _ := func() (int, string) {
		resp, err := http.Get("http://" + srv.AdminAddr() + "/ready")
		if err != nil {
			return 0, ""
		}
		resp.Body.Close()
		return resp.StatusCode, ""
	}(); code == 200 {
		t.Error("/ready still LIVE after shutdown")
	}
}

func TestHTTP2DownstreamAndUpstream(t *testing.T) {
	app := newBackend(t, true, nil)
	srv := startServer(t, testBootstrap(
		[]listenerSpec{{name: "in", routes: route("all", `{prefix: "/"}`, "{cluster: h2app}")}},
		[]clusterSpec{{"h2app", app.addr, true}}), startOpts{})

	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	defer h2c.CloseIdleConnections()
	resp, err := (&http.Client{Transport: h2c}).Get(srv.url("in") + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(b) != "ok /h2" {
		t.Errorf("downstream %s %q", resp.Proto, b)
	}
	if got := app.requests(); len(got) != 1 || got[0].Proto != 2 {
		t.Errorf("upstream requests %+v, want one over HTTP/2", got)
	}

	// The clusters as filters see them (proxy_http_call, gRPC callouts).
	c, ok := srv.Clusters().Cluster("h2app")
	if !ok || !c.HTTP2() || c.Name() != "h2app" {
		t.Fatalf("Clusters().Cluster: %v %v", c, ok)
	}
	if ep, err := c.NextEndpoint(); err != nil || ep != app.addr {
		t.Errorf("NextEndpoint %q %v", ep, err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://ignored/callout", strings.NewReader("x"))
	req.Host = "" // Envoy's async client uses the cluster name
	resp, err = c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	last := app.requests()[1]
	if resp.StatusCode != 200 || last.Path != "/callout" || last.Host != "h2app" || last.Proto != 2 {
		t.Errorf("callout: %d, upstream saw %+v", resp.StatusCode, last)
	}
	if _, ok := srv.Clusters().Cluster("nope"); ok {
		t.Error("unknown cluster found")
	}
}

func TestStrictDNSClusterResolves(t *testing.T) {
	app := newBackend(t, false, nil)
	_, port, _ := net.SplitHostPort(app.addr)
	y := strings.Replace(testBootstrap(
		[]listenerSpec{{name: "in", routes: route("all", `{prefix: "/"}`, "{cluster: app}")}},
		[]clusterSpec{{"app", "127.0.0.1:" + port, false}}),
		"type: STATIC", "type: STRICT_DNS\n    dns_lookup_family: V4_ONLY", 1)
	y = strings.Replace(y, "address: 127.0.0.1, port_value: "+port, "address: localhost, port_value: "+port, 1)
	srv := startServer(t, y, startOpts{})
	resp, body := get(t, srv.url("in")+"/dns", nil)
	if resp.StatusCode != 200 || body != "ok /dns" {
		t.Errorf("through a STRICT_DNS cluster: %d %q", resp.StatusCode, body)
	}
}

func TestStartFailsOnBusyPortAndMissingCode(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, port, _ := net.SplitHostPort(busy.Addr().String())
	y := strings.Replace(testBootstrap(
		[]listenerSpec{{name: "in", routes: route("all", `{prefix: "/"}`, "{cluster: app}")}},
		[]clusterSpec{{"app", "127.0.0.1:1", false}}),
		"address: 127.0.0.1, port_value: 0}}\n    filter_chains", "address: 127.0.0.1, port_value: "+port+"}}\n    filter_chains", 1)
	cfg, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Start(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), port) {
		t.Errorf("busy port: %v", err)
	}

	y = strings.Replace(testBootstrap(
		[]listenerSpec{{name: "in", filters: []string{"f"}, routes: route("all", `{prefix: "/"}`, "{cluster: app}")}},
		[]clusterSpec{{"app", "127.0.0.1:1", false}}), `inline_string: "test"`, "filename: /nonexistent/filter.wasm", 1)
	if cfg, err = Parse([]byte(y)); err != nil {
		t.Fatal(err)
	}
	loader := func(context.Context, httpfilter.Clusters, *WasmConfig) (httpfilter.Factory, error) {
		return &factory{}, nil
	}
	_, err = Start(context.Background(), cfg, Options{WasmLoader: loader})
	if err == nil || !strings.Contains(err.Error(), "http_filters[0]") || !strings.Contains(err.Error(), "/nonexistent/filter.wasm") {
		t.Errorf("missing code: %v", err)
	}
}
