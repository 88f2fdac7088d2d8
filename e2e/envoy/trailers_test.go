package envoy

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

func TestTrailersPassBothWays(t *testing.T) {
	app := newRawBackend(t, false, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Checksum")
		w.Write([]byte("got " + string(body) + " " + r.Trailer.Get("X-Client-Sum")))
		w.Header().Set("X-Checksum", "abc")
	})
	ev := &events{}
	f := &factory{testFilter{name: "f", ev: ev}}
	srv := filterServer(t, app, 0, "", f)

	req, _ := http.NewRequest(http.MethodPost, srv.url("in")+"/", io.NopCloser(strings.NewReader("data")))
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Client-Sum": {"42"}}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "got data 42" || resp.Trailer.Get("X-Checksum") != "abc" {
		t.Errorf("body %q trailers %v", body, resp.Trailer)
	}
	srv.drain(t)
	if log := ev.list(); !slices.Contains(log, "f:DecodeTrailers") || !slices.Contains(log, "f:EncodeTrailers") {
		t.Errorf("trailer callbacks missing:\n%s", ev)
	}
}

func TestFilterResetsTheStream(t *testing.T) {
	app := newBackend(t, false, nil)
	f := &factory{testFilter{name: "f", ev: &events{},
		encodeHeaders: func(f *testFilter, h *httpfilter.Headers, end bool) httpfilter.Status {
			f.cb.ResetStream()
			return httpfilter.StopIteration
		}}}
	srv := filterServer(t, app.addr, 0, "", f)
	if resp, err := http.Get(srv.url("in") + "/"); err == nil {
		resp.Body.Close()
		t.Errorf("got a %d response from a reset stream", resp.StatusCode)
	}
	srv.drain(t)
	if !strings.Contains(srv.logs.String(), "response_flags=LR") {
		t.Errorf("access log lacks LR:\n%s", srv.logs.String())
	}
}
