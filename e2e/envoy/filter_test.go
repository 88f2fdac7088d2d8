package envoy

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

func filterServer(t *testing.T, app string, bufferLimit int, routes string, fs ...*factory) *testServer {
	t.Helper()
	names := make([]string, len(fs))
	byName := map[string]httpfilter.Factory{}
	for i, f := range fs {
		names[i] = f.tmpl.name
		byName[f.tmpl.name] = f
	}
	if routes == "" {
		routes = route("all", `{prefix: "/"}`, "{cluster: app}")
	}
	return startServer(t, testBootstrap(
		[]listenerSpec{{name: "in", filters: names, bufferLimit: bufferLimit, routes: routes}},
		[]clusterSpec{{"app", app, false}}), startOpts{filters: byName})
}

func TestFilterCallbacksRunInEnvoyOrder(t *testing.T) {
	app := newBackend(t, false, nil)
	ev := &events{}
	var info httpfilter.StreamInfo
	a := &factory{testFilter{name: "a", ev: ev, onLog: func(f *testFilter) { info = *f.cb.StreamInfo() }}}
	b := &factory{testFilter{name: "b", ev: ev}}
	srv := filterServer(t, app.addr, 0, "", a, b)

	resp, body := get(t, srv.url("in")+"/x", nil)
	if resp.StatusCode != 200 || body != "ok /x" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	srv.drain(t) // the Log phase runs after the response
	want := []string{
		"a:DecodeHeaders end=true", "b:DecodeHeaders end=true",
		"b:EncodeHeaders 200 end=false", "a:EncodeHeaders 200 end=false",
		"b:EncodeData len=5 end=false", "a:EncodeData len=5 end=false",
		"b:EncodeData len=0 end=true", "a:EncodeData len=0 end=true",
		"a:Log", "b:Log", "a:Destroy", "b:Destroy",
	}
	if got := ev.list(); !slices.Equal(got, want) {
		t.Errorf("callbacks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if info.RouteName != "all" || info.VirtualHostName != "vh" || info.ClusterName != "app" ||
		info.UpstreamAddress != app.addr || info.ResponseCode != 200 || info.ListenerName != "in" ||
		info.Protocol != "HTTP/1.1" || info.BytesSent != 5 || info.FirstUpstreamByte.IsZero() {
		t.Errorf("stream info at Log: %+v", info)
	}
}

func TestStopAndBufferDeliversTheWholeBody(t *testing.T) {
	app := newBackend(t, false, nil)
	ev := &events{}
	var sizes []int
	up := &factory{testFilter{name: "upper", ev: ev,
		decodeHeaders: func(f *testFilter, h *httpfilter.Headers, end bool) httpfilter.Status {
			h.Del("content-length")
			return httpfilter.Continue
		},
		decodeData: func(f *testFilter, b *httpfilter.Buffer, end bool) httpfilter.Status {
			sizes = append(sizes, len(b.Data))
			if !end {
				return httpfilter.StopAndBuffer
			}
			b.Data = bytes.ToUpper(b.Data)
			return httpfilter.Continue
		},
		encodeHeaders: func(f *testFilter, h *httpfilter.Headers, end bool) httpfilter.Status {
			h.Del("content-length")
			return httpfilter.Continue
		},
		encodeData: func(f *testFilter, b *httpfilter.Buffer, end bool) httpfilter.Status {
			if !end {
				return httpfilter.StopAndBuffer
			}
			b.Data = append([]byte("whole:"), b.Data...)
			return httpfilter.Continue
		},
	}}
	srv := filterServer(t, app.addr, 0, "", up)

	pr, pw := io.Pipe()
	go func() {
		for _, part := range []string{"one-", "two-", "three"} {
			pw.Write([]byte(part))
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, srv.url("in")+"/buf", pr)
	resp, body := do(t, req)
	if resp.StatusCode != 200 || body != "whole:ok /buf" {
		t.Errorf("client got %d %q", resp.StatusCode, body)
	}
	srv.drain(t)
	if got := string(app.requests()[0].Body); got != "ONE-TWO-THREE" {
		t.Errorf("upstream body %q, want the filter's whole rewritten buffer", got)
	}
	if len(sizes) == 0 || sizes[len(sizes)-1] != len("one-two-three") || !slices.IsSorted(sizes) {
		t.Errorf("body sizes seen by the filter %v: want growing to the whole body", sizes)
	}
}

func TestBufferLimit(t *testing.T) {
	t.Run("request", func(t *testing.T) {
		app := newBackend(t, false, nil)
		ev := &events{}
		f := &factory{testFilter{name: "buf", ev: ev, decodeData: buffering}}
		srv := filterServer(t, app.addr, 1024, "", f)
		req, _ := http.NewRequest(http.MethodPost, srv.url("in")+"/big", bytes.NewReader(make([]byte, 4096)))
		resp, body := do(t, req)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || body != "Payload Too Large" {
			t.Errorf("got %d %q, want 413", resp.StatusCode, body)
		}
		if srv.stat("http.in.downstream_rq_too_large") != 1 {
			t.Error("downstream_rq_too_large not counted")
		}
		srv.drain(t)
		if !slices.Contains(ev.list(), "buf:EncodeHeaders 413 end=false") {
			t.Errorf("the local reply did not go through the encoder filter:\n%s", ev)
		}
	})
	t.Run("response before headers left", func(t *testing.T) {
		app := newRawBackend(t, false, func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 4096)) })
		ev := &events{}
		hold := &factory{testFilter{name: "hold", ev: ev,
			encodeHeaders: func(*testFilter, *httpfilter.Headers, bool) httpfilter.Status { return httpfilter.StopIteration }}}
		buf := &factory{testFilter{name: "buf", ev: ev, encodeData: buffering}}
		srv := filterServer(t, app, 1024, "", hold, buf)
		resp, body := get(t, srv.url("in")+"/", nil)
		if resp.StatusCode != http.StatusInternalServerError || body != "Internal Server Error" {
			t.Errorf("got %d %q, want 500", resp.StatusCode, body)
		}
	})
	t.Run("response after headers left", func(t *testing.T) {
		app := newRawBackend(t, false, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "4096")
			w.Write(make([]byte, 4096))
		})
		f := &factory{testFilter{name: "buf", ev: &events{}, encodeData: buffering}}
		srv := filterServer(t, app, 1024, "", f)
		// The headers passed every filter, so Envoy resets the stream instead
		// of answering 500; the client sees the connection end, before or
		// after the headers depending on when they were flushed.
		resp, err := http.Get(srv.url("in") + "/")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				t.Errorf("a complete %d response; want a reset once its headers had left the filters", resp.StatusCode)
			}
		}
	})
}

func TestLocalReplyFromDecodeHeaders(t *testing.T) {
	app := newBackend(t, false, nil)
	shadow := newBackend(t, false, nil)
	ev := &events{}
	var details string
	guardF := &factory{testFilter{name: "guard", ev: ev,
		decodeHeaders: func(f *testFilter, h *httpfilter.Headers, end bool) httpfilter.Status {
			extra := &httpfilter.Headers{}
			extra.Add("x-blocked-by", "guard")
			f.cb.SendLocalReply(418, []byte("teapot"), extra, "blocked_by_guard")
			return httpfilter.StopIteration
		},
		onLog: func(f *testFilter) { details = f.cb.StreamInfo().ResponseCodeDetails },
	}}
	routes := route("all", `{prefix: "/"}`, "{cluster: app, request_mirror_policies: [{cluster: shadow}]}")
	srv := startServer(t, testBootstrap(
		[]listenerSpec{{name: "in", filters: []string{"guard"}, routes: routes}},
		[]clusterSpec{{"app", app.addr, false}, {"shadow", shadow.addr, false}}),
		startOpts{filters: map[string]httpfilter.Factory{"guard": guardF}})

	resp, body := get(t, srv.url("in")+"/delete-everything", nil)
	if resp.StatusCode != 418 || body != "teapot" || resp.Header.Get("X-Blocked-By") != "guard" {
		t.Errorf("got %d %q %v", resp.StatusCode, body, resp.Header)
	}
	srv.drain(t)
	if len(app.requests())+len(shadow.requests()) != 0 {
		t.Error("a locally answered request reached an upstream or a mirror")
	}
	if !slices.Contains(ev.list(), "guard:EncodeHeaders 418 end=false") || details != "blocked_by_guard" {
		t.Errorf("filter events:\n%s\ndetails %q", ev, details)
	}
}

func TestStoppedHeadersResumeFromAnotherGoroutine(t *testing.T) {
	app := newBackend(t, false, nil)
	shadow := newBackend(t, false, nil)
	ev := &events{}
	proceed := make(chan struct{})
	async := &factory{testFilter{name: "async", ev: ev,
		decodeHeaders: func(f *testFilter, h *httpfilter.Headers, end bool) httpfilter.Status {
			h.Add("x-added-by-filter", "yes")
			go func() {
				<-proceed
				ev.add("async:continue")
				f.cb.ContinueDecoding()
			}()
			return httpfilter.StopIteration
		}}}
	next := &factory{testFilter{name: "next", ev: ev}}
	routes := route("all", `{prefix: "/"}`, "{cluster: app, request_mirror_policies: [{cluster: shadow}]}")
	srv := startServer(t, testBootstrap(
		[]listenerSpec{{name: "in", filters: []string{"async", "next"}, routes: routes}},
		[]clusterSpec{{"app", app.addr, false}, {"shadow", shadow.addr, false}}),
		startOpts{filters: map[string]httpfilter.Factory{"async": async, "next": next}})

	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, srv.url("in")+"/", pr)
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pw.Write([]byte("held"))
	pw.Close()
	close(proceed)
	select {
	case code := <-done:
		if code != 200 {
			t.Fatalf("status %d", code)
		}
	case <-time.After(guard):
		t.Fatal("the stream never resumed")
	}
	srv.drain(t)
	log := ev.list()
	first := func(prefix string) int {
		return slices.IndexFunc(log, func(e string) bool { return strings.HasPrefix(e, prefix) })
	}
	cont, succ, data := first("async:continue"), first("next:DecodeHeaders"), first("async:DecodeData len=4")
	if cont < 0 || succ < cont || data < cont {
		t.Errorf("the stopped filter's successors or its held data ran before it continued:\n%s", ev)
	}
	for _, b := range []*backend{app, shadow} {
		r := b.requests()
		if len(r) != 1 || string(r[0].Body) != "held" || r[0].Header.Get("X-Added-By-Filter") != "yes" {
			t.Errorf("upstream saw %+v, want the body and the filter's header", r)
		}
	}
}

func TestRouteIsRecomputedAfterFilters(t *testing.T) {
	a := newBackend(t, false, nil)
	b := newBackend(t, false, nil)
	var routeAtLog string
	rw := &factory{testFilter{name: "rw", ev: &events{},
		decodeHeaders: func(f *testFilter, h *httpfilter.Headers, end bool) httpfilter.Status {
			if f.cb.StreamInfo().RouteName != "a" {
				t.Errorf("route before the filters: %q", f.cb.StreamInfo().RouteName)
			}
			h.Set(":path", "/b/moved")
			return httpfilter.Continue
		},
		onLog: func(f *testFilter) { routeAtLog = f.cb.StreamInfo().RouteName },
	}}
	routes := route("b", `{prefix: "/b/"}`, "{cluster: b}") + route("a", `{prefix: "/"}`, "{cluster: a}")
	srv := startServer(t, testBootstrap(
		[]listenerSpec{{name: "in", filters: []string{"rw"}, routes: routes}},
		[]clusterSpec{{"a", a.addr, false}, {"b", b.addr, false}}),
		startOpts{filters: map[string]httpfilter.Factory{"rw": rw}})
	get(t, srv.url("in")+"/a", nil)
	srv.drain(t)
	if len(a.requests()) != 0 || len(b.requests()) != 1 || b.requests()[0].Path != "/b/moved" || routeAtLog != "b" {
		t.Errorf("a %d b %+v route %q", len(a.requests()), b.requests(), routeAtLog)
	}
}
