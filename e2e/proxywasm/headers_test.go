package proxywasm

import (
	"slices"
	"strconv"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

func TestSerializePairsRoundTrip(t *testing.T) {
	fields := []httpfilter.Header{{Name: "a", Value: "1"}, {Name: "", Value: ""}, {Name: ":path", Value: "/x"}}
	b := serializePairs(fields)
	// The spec's example layout: count, then lengths, then NUL-terminated data.
	if b[0] != 3 || b[4] != 1 || b[8] != 1 {
		t.Fatalf("unexpected header layout % x", b[:12])
	}
	got, ok := parsePairs(b)
	if !ok || !slices.Equal(got, fields) {
		t.Fatalf("parsePairs = %v %v, want %v", got, ok, fields)
	}
	for _, empty := range [][]byte{nil, {0}} {
		if got, ok := parsePairs(empty); !ok || len(got) != 0 {
			t.Errorf("parsePairs(% x) = %v %v, want an empty map", empty, got, ok)
		}
	}
	for _, bad := range [][]byte{{1, 0, 0, 0}, {1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 'a', 0}, b[:len(b)-1]} {
		if _, ok := parsePairs(bad); ok {
			t.Errorf("parsePairs(% x) accepted a truncated map", bad)
		}
	}
}

func TestHeaderMapsFollowEnvoy(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	cb := newCallbacks()
	f := p.NewFilter(cb)
	req := requestHeaders("headers", "x-multi", "first", "x-multi", "second", "x-empty", "",
		"x-replace", "old", "x-replace", "older", "x-remove", "gone")
	if st := f.DecodeHeaders(req, false); st != httpfilter.Continue {
		t.Fatalf("DecodeHeaders = %v", st)
	}
	h.rep.expect(t, map[string]string{
		"headers.n":       "12:0",
		"headers.path":    "0:/p?q=1",
		"headers.multi":   "first", // Envoy returns the first value only
		"headers.missing": "1",
		"headers.empty":   `0:0:""`, // empty value: ptr 0, size 0
		"headers.pairs": "0::method:GET|:path:/p?q=1|:authority:app.test|:scheme:http|x-request-id:rid-1|" +
			"x-case:headers|x-multi:first|x-multi:second|x-empty:|x-replace:old|x-replace:older|x-remove:gone",
		"headers.add":             "0",
		"headers.replace":         "0",
		"headers.replace_absent":  "0",
		"headers.remove":          "0",
		"headers.remove_absent":   "0",
		"headers.resp_in_req":     "2",
		"headers.bad_type":        "2",
		"headers.trailers_in_req": "2",
		"headers.callmap_in_req":  "2",
	})
	// The guest asks for the size after its changes.
	if got, want := h.rep.get(t, "headers.size"), "0:"+strconv.Itoa(headersByteSize(req)); got != want {
		t.Errorf("headers.size = %s, want %s", got, want)
	}
	for name, want := range map[string]string{"x-added": "yes", "x-replace": "new", "x-replace-absent": "set"} {
		if v, _ := req.Get(name); v != want {
			t.Errorf("request header %s = %q, want %q", name, v, want)
		}
	}
	if _, ok := req.Get("x-remove"); ok {
		t.Error("x-remove still present")
	}
	if n := len(slices.DeleteFunc(slices.Clone(req.Fields), func(f httpfilter.Header) bool { return f.Name != "x-replace" })); n != 1 {
		t.Errorf("replace left %d x-replace values, want 1", n)
	}

	// After on_request_headers continued, the request map is gone.
	f.DecodeData(&httpfilter.Buffer{Data: []byte("b")}, true)
	resp := headers(":status", "200")
	f.EncodeHeaders(resp, true)
	h.rep.expect(t, map[string]string{"headers.in_body": "2", "headers.req_in_resp": "2", "headers.status": "200"})

	// In the access-log phase the maps are read-only; a missing one is NOT_FOUND.
	cb.req, cb.resp = req, resp
	f.Log()
	h.rep.expect(t, map[string]string{
		"headers.log_path":         "0:/p?q=1",
		"headers.log_add":          "2",
		"headers.log_req_trailers": "1",
		"headers.log_status":       "200",
	})
	f.Destroy()
}

func TestSetHeaderMapPairsReplacesTheMap(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	f := p.NewFilter(newCallbacks())
	req := requestHeaders("set-pairs")
	f.DecodeHeaders(req, true)
	h.rep.expect(t, map[string]string{"setpairs.status": "0", "setpairs.bad": "2"})
	want := []httpfilter.Header{{Name: ":path", Value: "/new"}, {Name: "x-a", Value: "1"}}
	if !slices.Equal(req.Fields, want) {
		t.Errorf("headers = %v, want %v", req.Fields, want)
	}
}

func TestPausedHeadersStayAvailable(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	f := p.NewFilter(newCallbacks())
	if st := f.DecodeHeaders(requestHeaders("pause-headers"), false); st != httpfilter.StopIteration {
		t.Fatalf("DecodeHeaders = %v, want StopIteration for PAUSE", st)
	}
	f.DecodeData(&httpfilter.Buffer{Data: []byte("b")}, true)
	h.rep.expect(t, map[string]string{"pause.body_path": "0:/p?q=1"})
}

func TestTrailers(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	f := p.NewFilter(newCallbacks())
	f.DecodeHeaders(requestHeaders("trailers"), false)
	if st := f.DecodeTrailers(headers("x-trailer", "tv")); st != httpfilter.Continue {
		t.Errorf("DecodeTrailers = %v", st)
	}
	f.EncodeHeaders(headers(":status", "200"), false)
	rt := headers("grpc-status", "0")
	f.EncodeTrailers(rt)
	h.rep.expect(t, map[string]string{"trailers.request": "1:0:tv", "trailers.response": "1:0:0", "trailers.add": "0"})
	if v, _ := rt.Get("x-added-trailer"); v != "1" {
		t.Errorf("response trailers = %v, want x-added-trailer", rt.Fields)
	}
}
