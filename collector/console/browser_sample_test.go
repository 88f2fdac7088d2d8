package console

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cellMark is how a side-by-side cell is highlighted: "raw", "noise", ""
// (not highlighted) or "none" (no such row).
const cellMark = `const td = document.querySelector('#side-by-side tr[data-path="' + arguments[0] + '"] td[data-role="' + arguments[1] + '"]'); return td ? (td.dataset.mark || "") : "none"`

const cellText = `const td = document.querySelector('#side-by-side tr[data-path="' + arguments[0] + '"] td[data-role="' + arguments[1] + '"]'); return td ? td.innerText : ""`

func TestBrowserSample(t *testing.T) {
	c := openConsole(t)
	seed := c.seed
	c.page(endpointRoute(seed.regressed))
	c.waitFor("regressed field row", fieldStatus, seed.regressedField)
	// The field's Samples link leads to the side-by-side page.
	c.click(`#fields tr[data-path="` + seed.regressedField + `"] a[id$="-samples"]`)
	c.waitFor("side-by-side table", `return !!document.querySelector("#side-by-side")`)
	for _, tc := range []struct{ path, role, mark string }{
		{seed.regressedField, "primary", "raw"},
		{seed.regressedField, "candidate", "raw"},
		{seed.regressedField, "secondary", ""}, // primary and secondary agree
		{seed.noiseField, "secondary", "noise"},
		{seed.noiseField, "candidate", "noise"}, // differs, but noise explains it
		{seed.noiseField, "primary", "noise"},
		{"body", "candidate", "raw"}, // the body hash differs, partly for real
		{seed.sameField, "candidate", ""},
		{"headers.x-generated", "secondary", "noise"},
		{"status", "candidate", ""},
		// v1 and v2 differ by design: neither the workload nor the latency is a difference.
		{"workload", "candidate", ""},
		{"workload", "primary", ""},
		{"latency", "candidate", ""},
	} {
		if m := c.eval(cellMark, tc.path, tc.role); m != tc.mark {
			t.Errorf("%s %s highlight = %q, want %q", tc.path, tc.role, m, tc.mark)
		}
	}
	// Values where the filter collected them, hashes where it did not.
	for role, want := range map[string]string{"primary": seed.primaryValue, "secondary": seed.primaryValue, "candidate": seed.candidateValue} {
		if v, _ := c.eval(cellText, seed.regressedField, role).(string); strings.Fields(strings.TrimPrefix(v, "≠"))[0] != want {
			t.Errorf("%s %s cell = %q, want raw value %q", seed.regressedField, role, v, want)
		}
	}
	if v, _ := c.eval(cellText, seed.noiseField, "primary").(string); !strings.Contains(v, "#") {
		t.Errorf("%s primary cell = %q, want a hash", seed.noiseField, v)
	}
	if v := c.eval(`return document.querySelector('#differences tr[data-diff-path="` + seed.regressedField + `"]').innerText`); !strings.Contains(v.(string), "definite") {
		t.Errorf("differences row of %s = %q, want definite evidence", seed.regressedField, v)
	}
	c.shot("sample")

	// Keyboard: another sample from the list opens with Enter.
	first := c.eval(`return document.querySelector('#sample-list a[aria-current="true"]').id`)
	c.eval(`document.querySelectorAll("#sample-list a")[1].focus()`)
	c.keys(keyEnter)
	c.waitFor("second sample", `const a = document.querySelector('#sample-list a[aria-current="true"]'); return a && a.id !== arguments[0] && location.hash.includes("key=")`, first)
	if m := c.eval(cellMark, seed.regressedField, "candidate"); m != "raw" {
		t.Errorf("second sample: %s candidate highlight = %q, want raw", seed.regressedField, m)
	}
}

func TestBrowserDeepLinks(t *testing.T) {
	c := openConsole(t)
	seed := c.seed
	// A request that was never compared says why.
	c.page("/request?key=req-lost-0000")
	c.waitFor("request page", `return !!document.querySelector("#side-by-side")`)
	if v := c.text(`#sample-detail [role="note"]`); !strings.Contains(v, "no candidate digest") {
		t.Errorf("not compared note = %q", v)
	}
	if v, _ := c.eval(cellText, "status", "candidate").(string); v != "no digest" {
		t.Errorf("candidate status cell = %q, want no digest", v)
	}
	// A given sample of a field.
	key := "req-0-0123"
	c.page("/samples?endpoint=" + url.QueryEscape(seed.regressed) + "&path=" + url.QueryEscape(seed.regressedField) + "&key=" + key)
	c.waitFor("sample "+key, `return (document.querySelector('#sample-detail a[href*="key="]') || {}).textContent === arguments[0]`, key)
	if m := c.eval(cellMark, seed.regressedField, "candidate"); m != "raw" {
		t.Errorf("%s: %s candidate highlight = %q, want raw", key, seed.regressedField, m)
	}
	// Unknown names and pages say so.
	for route, says := range map[string]string{endpointRoute("GET /nope"): `"GET /nope" not found`, "/nonsense": "No such page: #/nonsense"} {
		c.page(route)
		c.waitFor("not found page for "+route, `const h = document.querySelector("h1"), e = document.querySelector(".error-box");
			return h && h.textContent === "Not found" && e && e.innerText.includes(arguments[0])`, says)
	}
}

// Traffic that arrives while the overview is open shows up without a
// reload, announced by the collector's regression stream.
func TestBrowserLiveUpdates(t *testing.T) { testLiveUpdates(t, 0) }

// TestBrowserLiveUpdatesAfter503: a proxy that answers the stream with 503
// closes the browser's EventSource for good; the app starts it again.
func TestBrowserLiveUpdatesAfter503(t *testing.T) { testLiveUpdates(t, 2) }

// testLiveUpdates: the first `refusals` requests for the stream are answered 503.
func testLiveUpdates(t *testing.T, refusals int32) {
	requireBrowser(t)
	eng, clk := openEngine(t)
	subscribed := make(chan struct{})
	var once sync.Once
	var watches atomic.Int32
	h := New(eng.QueryServer(), Options{Logger: quietLogger()})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/watch" {
			if watches.Add(1) <= refusals {
				http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
				return
			}
			w = &watchSpy{ResponseWriter: w, subscribed: func() { once.Do(func() { close(subscribed) }) }}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	b := startBrowser(t)
	b.open(srv.URL + "/#/")
	b.waitFor("empty overview", `return !!document.querySelector("#empty")`)
	select { // the app's stream is live: no event can be missed
	case <-subscribed:
	case <-time.After(20 * time.Second):
		t.Fatalf("the app never subscribed to the live updates (%d requests for the stream)", watches.Load())
	}
	ingestSeed(t, eng, clk)
	b.waitFor("regression notice", `return document.querySelector("#notice").innerText.includes("New significant regression: GET /api/orders/{id} body.order.total")`)
	b.waitFor("endpoint rows", endpointRows+` >= 4`)
	// The notice's Open button leads to the endpoint.
	b.click(`#notice button`)
	b.waitFor("endpoint page", `return (document.querySelector("h1 [data-verdict]") || {dataset: {}}).dataset.verdict === "REGRESSION"`)
}

// watchSpy reports when the console tells a stream it is subscribed.
type watchSpy struct {
	http.ResponseWriter
	subscribed func()
}

func (s *watchSpy) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(": subscribed\n")) {
		defer s.subscribed()
	}
	return s.ResponseWriter.Write(p)
}

func (s *watchSpy) Flush() { s.ResponseWriter.(http.Flusher).Flush() }
