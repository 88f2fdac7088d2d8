package proxywasm

import (
	"slices"
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

func TestBodyPauseBuffersAndSetBufferRules(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	f := p.NewFilter(newCallbacks())
	f.DecodeHeaders(requestHeaders("body-buffer"), false)
	// PAUSE means buffer: the manager calls again with the whole body.
	if st := f.DecodeData(&httpfilter.Buffer{Data: []byte("hello")}, false); st != httpfilter.StopAndBuffer {
		t.Fatalf("DecodeData = %v, want StopAndBuffer", st)
	}
	body := &httpfilter.Buffer{Data: []byte("hello world")}
	if st := f.DecodeData(body, true); st != httpfilter.Continue {
		t.Fatalf("DecodeData = %v, want Continue", st)
	}
	if got := h.rep.all("body.size"); !slices.Equal(got, []string{"5:0", "11:1"}) {
		t.Errorf("body sizes = %q", got)
	}
	h.rep.expect(t, map[string]string{
		"body.all":             "0:hello world",
		"body.part":            "llo",
		"body.clipped":         "ld",
		"body.past_end":        "0:0:0",
		"body.status":          "0:11:0",
		"body.set_middle":      "2", // Envoy: only start 0 or start >= len
		"body.set_prefix":      "0",
		"body.set_append":      "0",
		"body.after":           "<hello world>",
		"body.resp_in_req":     "1",
		"body.bad_type":        "2",
		"body.callbody_in_req": "1",
		"body.set_vmconfig":    "2",
	})
	if string(body.Data) != "<hello world>" {
		t.Errorf("body = %q", body.Data)
	}
}

func TestBodyContinueSeesChunks(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	f := p.NewFilter(newCallbacks())
	f.DecodeHeaders(requestHeaders("body-continue"), false)
	for _, c := range []struct {
		data string
		eos  bool
	}{{"ab", false}, {"cd", false}, {"", true}} {
		if st := f.DecodeData(&httpfilter.Buffer{Data: []byte(c.data)}, c.eos); st != httpfilter.Continue {
			t.Fatalf("DecodeData = %v", st)
		}
	}
	if got := h.rep.all("cont.chunk"); !slices.Equal(got, []string{"2:0:ab", "2:0:cd", "0:1:"}) {
		t.Errorf("chunks = %q", got)
	}
}

func TestResponseBodyReplace(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	f := p.NewFilter(newCallbacks())
	f.DecodeHeaders(requestHeaders("body-replace"), true)
	f.EncodeHeaders(headers(":status", "200"), false)
	if st := f.EncodeData(&httpfilter.Buffer{Data: []byte("abc")}, false); st != httpfilter.StopAndBuffer {
		t.Fatalf("EncodeData = %v", st)
	}
	b := &httpfilter.Buffer{Data: []byte("abcdef")}
	f.EncodeData(b, true)
	h.rep.expect(t, map[string]string{"replace.status": "0"})
	if string(b.Data) != "REPLACED" {
		t.Errorf("body = %q, want (0, len) to replace it", b.Data)
	}
}

func TestStatusConversions(t *testing.T) {
	h := newHarness(t, RuntimeOptions{Workers: 1})
	p := h.load(t, PluginConfig{})
	for raw, want := range map[string]httpfilter.Status{
		"0": httpfilter.Continue, "1": httpfilter.StopIteration, "2": httpfilter.Continue,
		"3": httpfilter.StopIteration, "4": httpfilter.StopIteration, "77": httpfilter.StopIteration,
	} {
		f := p.NewFilter(newCallbacks())
		if st := f.DecodeHeaders(requestHeaders("stop-iteration-values", "x-return", raw), false); st != want {
			t.Errorf("headers result %s = %v, want %v", raw, st, want)
		}
		f.Destroy()
	}
	f := p.NewFilter(newCallbacks())
	f.DecodeHeaders(requestHeaders("body-nobuffer"), false)
	if st := f.DecodeData(&httpfilter.Buffer{Data: []byte("x")}, false); st != httpfilter.StopNoBuffer {
		t.Errorf("data result 3 = %v, want StopNoBuffer", st)
	}
	for raw, want := range map[uint64]httpfilter.Status{0: httpfilter.Continue, 1: httpfilter.StopAndBuffer,
		2: httpfilter.StopAndBuffer, 3: httpfilter.StopNoBuffer, 9: httpfilter.StopNoBuffer} {
		if st := convertData(raw); st != want {
			t.Errorf("convertData(%d) = %v, want %v", raw, st, want)
		}
	}
	for raw, want := range map[uint64]httpfilter.Status{0: httpfilter.Continue, 1: httpfilter.StopIteration, 5: httpfilter.StopIteration} {
		if st := convertTrailers(raw); st != want {
			t.Errorf("convertTrailers(%d) = %v, want %v", raw, st, want)
		}
	}
}
