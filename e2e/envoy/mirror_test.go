package envoy

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// guard is how long a test waits for an event that must happen; it only
// turns a hang into a failure, it measures nothing.
const guard = 10 * time.Second

func mirrorRoute(policies string) string {
	return route("primary-with-shadows", `{prefix: "/"}`, "{cluster: primary, request_mirror_policies: "+policies+"}")
}

func TestMirrorsCopyHeadersAndBodyWithShadowSuffix(t *testing.T) {
	primary := newBackend(t, false, nil)
	shadow := newBackend(t, false, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.WriteHeader(http.StatusInternalServerError) // discarded
	})
	plain := newBackend(t, false, nil)
	srv := startServer(t, testBootstrap(
		[]listenerSpec{{name: "front", routes: mirrorRoute("[{cluster: shadow}, {cluster: plain, disable_shadow_host_suffix_append: true}]")}},
		[]clusterSpec{{"primary", primary.addr, false}, {"shadow", shadow.addr, false}, {"plain", plain.addr, false}}), startOpts{})

	req, _ := http.NewRequest(http.MethodPost, srv.url("front")+"/orders?id=3", strings.NewReader(`{"n":1}`))
	req.Host = "shop.local:10000"
	req.Header.Set("X-Custom", "kept")
	resp, body := do(t, req)
	if resp.StatusCode != 200 || body != "ok /orders" {
		t.Fatalf("primary answer %d %q, want the primary's despite the mirror's 500", resp.StatusCode, body)
	}
	srv.drain(t)

	p, s, n := primary.requests(), shadow.requests(), plain.requests()
	if len(p) != 1 || len(s) != 1 || len(n) != 1 {
		t.Fatalf("requests: primary %d shadow %d plain %d, want 1 each", len(p), len(s), len(n))
	}
	if p[0].Host != "shop.local:10000" || s[0].Host != "shop.local-shadow:10000" || n[0].Host != "shop.local:10000" {
		t.Errorf("hosts: primary %q shadow %q plain %q", p[0].Host, s[0].Host, n[0].Host)
	}
	id := p[0].Header.Get("X-Request-Id")
	for _, m := range []seen{s[0], n[0]} {
		if m.Header.Get("X-Request-Id") != id || m.Header.Get("X-Custom") != "kept" {
			t.Errorf("mirror headers %v, want x-request-id %s and x-custom", m.Header, id)
		}
		if m.Method != http.MethodPost || m.Path != "/orders?id=3" || string(m.Body) != `{"n":1}` {
			t.Errorf("mirror got %s %s %q", m.Method, m.Path, m.Body)
		}
	}
	if got := srv.stat("cluster.shadow.upstream_rq_5xx"); got != 1 {
		t.Errorf("cluster.shadow.upstream_rq_5xx = %d, want 1", got)
	}
}

func TestMirrorFractionsShareOneStreamID(t *testing.T) {
	primary := newBackend(t, false, nil)
	quarter := newBackend(t, false, nil)
	half := newBackend(t, false, nil)
	all := newBackend(t, false, nil)
	policies := `[{cluster: quarter, runtime_fraction: {default_value: {numerator: 25, denominator: HUNDRED}}},
		{cluster: half, runtime_fraction: {default_value: {numerator: 5000, denominator: TEN_THOUSAND}}},
		{cluster: all}]`
	var next atomic.Uint64
	srv := startServer(t, testBootstrap(
		[]listenerSpec{{name: "front", routes: mirrorRoute(strings.ReplaceAll(policies, "\n", " "))}},
		[]clusterSpec{{"primary", primary.addr, false}, {"quarter", quarter.addr, false}, {"half", half.addr, false}, {"all", all.addr, false}}),
		startOpts{streamID: func() uint64 { return next.Add(1) - 1 }})

	const n = 200
	for i := range n {
		get(t, srv.url("front")+"/", map[string]string{"X-Request-Id": "req-" + itoa(i)})
	}
	srv.drain(t)
	ids := func(b *backend) map[string]bool {
		out := map[string]bool{}
		for _, r := range b.requests() {
			out[r.Header.Get("X-Request-Id")] = true
		}
		return out
	}
	q, h, a := ids(quarter), ids(half), ids(all)
	// Stream ids 0..199: id % 100 < 25 holds for 50 of them, id % 10000 < 5000 for all.
	if len(q) != 50 || len(h) != n || len(a) != n {
		t.Errorf("mirrored: quarter %d half %d all %d, want 50, %d, %d", len(q), len(h), len(a), n, n)
	}
	for id := range q {
		if !h[id] || !a[id] {
			t.Errorf("%s mirrored at 25%% but not by the larger fractions", id)
		}
		var i int
		for i = 0; "req-"+itoa(i) != id; i++ {
		}
		if i%100 >= 25 {
			t.Errorf("%s (stream id %d) mirrored at 25%%", id, i)
		}
	}
}

func TestMirrorReceivesBodyWhileItStreams(t *testing.T) {
	gotFirst := make(chan string, 2)
	streaming := func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			t.Errorf("%s: read first part: %v", r.Host, err)
			return
		}
		gotFirst <- r.Host
		rest, _ := io.ReadAll(r.Body)
		w.Write(append(buf, rest...))
	}
	primary := newRawBackend(t, false, streaming)
	shadow := newRawBackend(t, false, streaming)
	srv := startServer(t, testBootstrap(
		[]listenerSpec{{name: "front", routes: mirrorRoute("[{cluster: shadow}]")}},
		[]clusterSpec{{"primary", primary, false}, {"shadow", shadow, false}}), startOpts{})

	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPut, srv.url("front")+"/stream", pr)
	req.Host = "app"
	done := make(chan string, 1)
	go func() {
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	pw.Write([]byte("part1"))
	// Both upstreams get the first part while the client still holds the rest.
	hosts := map[string]bool{}
	for range 2 {
		select {
		case h := <-gotFirst:
			hosts[h] = true
		case <-time.After(guard):
			t.Fatal("the first part of the body never reached both upstreams before the body ended")
		}
	}
	if !hosts["app"] || !hosts["app-shadow"] {
		t.Errorf("first part reached %v", hosts)
	}
	pw.Write([]byte("part2"))
	pw.Close()
	if got := <-done; got != "part1part2" {
		t.Errorf("client got %q", got)
	}
}

func TestSlowOrDeadMirrorNeverDelaysThePrimary(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	var released atomic.Bool
	primary := newBackend(t, false, nil)
	// The slow mirror takes the request, reads nothing, answers only when released.
	slow := newRawBackend(t, false, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		released.Store(true)
	})
	srv := startServer(t, testBootstrap(
		[]listenerSpec{{name: "front", bufferLimit: 64 << 10, routes: mirrorRoute("[{cluster: slow}, {cluster: dead}]")}},
		[]clusterSpec{{"primary", primary.addr, false}, {"slow", slow, false}, {"dead", deadAddr(t), false}}), startOpts{})

	body := bytes.Repeat([]byte("x"), 16<<20) // far over the limit and the socket buffers
	result := make(chan int, 1)
	go func() {
		resp, err := http.Post(srv.url("front")+"/upload", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			result <- -1
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		result <- resp.StatusCode
	}()
	select {
	case <-arrived:
	case <-time.After(guard):
		t.Fatal("the mirror request never started")
	}
	select {
	case code := <-result:
		if code != 200 {
			t.Fatalf("primary status %d", code)
		}
	case <-time.After(guard):
		t.Fatal("the primary response waited for the slow mirror")
	}
	if released.Load() {
		t.Fatal("the mirror was released before the primary answered: the test proves nothing")
	}
	if got := len(primary.requests()[0].Body); got != len(body) {
		t.Errorf("primary got %d bytes, want %d", got, len(body))
	}
	if got := srv.stat("cluster.slow.upstream_rq_shadow_dropped"); got != 1 {
		t.Errorf("lagging mirror dropped %d times, want 1", got)
	}
	close(release)
	srv.drain(t)
	if got := srv.stat("cluster.dead.upstream_cx_connect_fail"); got != 1 {
		t.Errorf("dead mirror connect failures %d, want 1", got)
	}
}

func TestUpgradesAreRefusedAndNeverMirrored(t *testing.T) {
	primary := newBackend(t, false, nil)
	shadow := newBackend(t, false, nil)
	ev := &events{}
	srv := startServer(t, testBootstrap(
		[]listenerSpec{{name: "front", filters: []string{"f"}, routes: mirrorRoute("[{cluster: shadow}]")}},
		[]clusterSpec{{"primary", primary.addr, false}, {"shadow", shadow.addr, false}}),
		startOpts{filters: map[string]httpfilter.Factory{"f": &factory{testFilter{name: "f", ev: ev}}}})
	resp, _ := get(t, srv.url("front")+"/ws", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("upgrade: status %d, want 403", resp.StatusCode)
	}
	srv.drain(t)
	if len(primary.requests())+len(shadow.requests()) != 0 {
		t.Error("an upgrade request reached an upstream")
	}
	if len(ev.list()) != 0 {
		t.Errorf("filters ran for a refused upgrade:\n%s", ev)
	}
}
