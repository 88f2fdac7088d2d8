package console

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shadowdiff/shadowdiff/collector/engine"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// openLiveConsole is openConsole with the engine at hand, for tests that
// add traffic while the page is open.
func openLiveConsole(t *testing.T) (*consoleUnderTest, *engine.Engine) {
	t.Helper()
	requireBrowser(t)
	eng, clk := openEngine(t)
	ingestSeed(t, eng, clk)
	return browseConsole(t, eng.QueryServer(), Options{Title: "shadowdiff"}, nil), eng
}

// ingestProducts adds n identical GET /api/products requests, so the
// overview's data changes and the next poll redraws it.
func ingestProducts(t *testing.T, eng *engine.Engine, prefix string, n int) {
	t.Helper()
	at := time.Now().Add(-time.Minute)
	var ds []*shadowdiffv1.ResponseDigest
	for i := 0; i < n; i++ {
		for _, role := range roles {
			ds = append(ds, digest(fmt.Sprintf("%s-%04d", prefix, i), role, "GET", seedProdPath, at,
				[]fieldSpec{{"[].name", typString, shapeText, "chair", true}}, "stamp"))
		}
	}
	if _, rejected, err := eng.Ingest(context.Background(), ds); err != nil || len(rejected) > 0 {
		t.Fatalf("ingest: %v %v", rejected, err)
	}
}

// TestBrowserLookupSurvivesRedraw: a pairing key half typed into "Find a
// request" is still there, focused, with its caret, after the overview
// redraws with new data.
func TestBrowserLookupSurvivesRedraw(t *testing.T) {
	c, eng := openLiveConsole(t)
	c.page("/")
	c.waitFor("endpoint rows", endpointRows+` >= 4`)
	before := c.eval(`return document.querySelector("#total-requests").dataset.value`)
	c.click("#lookup-key")
	c.keys("r", "e", "q", "-", "4", "2")
	c.eval(`document.querySelector("#lookup-key").setSelectionRange(2, 4)`)
	ingestProducts(t, eng, "req-more", 3)
	c.waitFor("redraw with the new requests", `return document.querySelector("#total-requests").dataset.value !== arguments[0]`, before)
	got := c.eval(`const i = document.querySelector("#lookup-key"); return [i.value, document.activeElement === i, i.selectionStart, i.selectionEnd].join()`)
	if got != "req-42,true,2,4" {
		t.Errorf("lookup input after a redraw (value, focused, selection) = %v, want req-42,true,2,4", got)
	}
}

// TestBrowserLongKeyFitsThePage: a 1,900-character JSON key wraps; neither
// the fields table nor the samples page grows past the window.
func TestBrowserLongKeyFitsThePage(t *testing.T) {
	c, eng := openLiveConsole(t)
	key := strings.Repeat("averylongjsonkey", 119) // 1,904 characters
	ingestChanged(t, eng, "req-long", "/api/long", key)
	const widths = `return [document.documentElement.scrollWidth, window.innerWidth, (document.querySelector(arguments[0]) || {}).scrollWidth || 0]`
	fits := func(where, table string) {
		t.Helper()
		w, _ := c.eval(widths, table).([]any)
		if len(w) != 3 {
			t.Fatalf("%s: widths %v", where, w)
		}
		page, win, tbl := w[0].(float64), w[1].(float64), w[2].(float64)
		if page > win || tbl > win || tbl == 0 {
			t.Errorf("%s: page %v px, %s %v px wide in a %v px window", where, page, table, tbl, win)
		}
	}
	c.page(endpointRoute("GET /api/long"))
	c.waitFor("the long field", fieldStatus, "body."+key)
	fits("endpoint page", "#fields")
	c.page("/samples?endpoint=" + url.QueryEscape("GET /api/long") + "&path=" + url.QueryEscape("body."+key))
	c.waitFor("side-by-side table", `return !!document.querySelector("#side-by-side")`)
	fits("samples page", "#side-by-side")
	fits("samples page", "#differences")
}

// TestBrowserFiltersKeepFocus: a filter or the time window changes the
// route, but the focus stays on the control (not on main, where keyboard
// and screen reader users would lose their place). The focus is read once
// the page is drawn again for the new route: the old page's table is
// marked, and the check waits for one without the mark.
func TestBrowserFiltersKeepFocus(t *testing.T) {
	c := openConsole(t)
	seed := c.seed
	focusIs := func(what, want string) {
		t.Helper()
		if id := c.eval(`return document.activeElement ? document.activeElement.id : ""`); id != want {
			t.Errorf("focus after %s = %q, want %q", what, id, want)
		}
	}
	const mark = `document.querySelector(arguments[0]).dataset.old = "1"`
	const redrawn = `return !!document.querySelector(arguments[0] + ":not([data-old])") && location.hash.includes(arguments[1])`
	c.page(endpointRoute(seed.regressed))
	c.waitFor("regressed field row", fieldStatus, seed.regressedField)
	c.eval(mark, "#fields")
	c.eval(`document.querySelector("#include-noise").focus()`)
	c.keys(keySpace)
	c.waitFor("fields with noise", redrawn, "#fields", "noise=1")
	focusIs("Include noise", "include-noise")
	c.eval(mark, "#fields")
	c.eval(`document.querySelector("#window-select").focus(); const s = document.querySelector("#window-select"); s.value = "1h"; s.dispatchEvent(new Event("change"))`)
	c.waitFor("fields in the last hour", redrawn, "#fields", "window=1h")
	focusIs("a time window change", "window-select")
	c.page("/samples?endpoint=" + url.QueryEscape(seed.regressed) + "&path=" + url.QueryEscape(seed.regressedField))
	c.waitFor("side-by-side table", `return !!document.querySelector("#side-by-side")`)
	c.eval(mark, "#side-by-side")
	c.eval(`document.querySelector("#definite-only").focus()`)
	c.keys(keySpace)
	c.waitFor("definite samples", redrawn, "#side-by-side", "definite=1")
	focusIs("the definite filter", "definite-only")
	// A link still moves the focus to the new page.
	c.eval(`document.querySelector(".breadcrumb a").focus()`)
	c.keys(keyEnter)
	c.waitFor("overview", endpointRows+` >= 4`)
	focusIs("following a link", "main")
}

// TestBrowserWindowFromURL: a valid window the list lacks is shown as is,
// and its option goes away with it.
func TestBrowserWindowFromURL(t *testing.T) {
	c := openConsole(t)
	c.page("/?window=2h")
	c.waitFor("endpoint rows", endpointRows+` >= 4`)
	sel := `const s = document.querySelector("#window-select"); return s.value + "|" + s.options[s.selectedIndex].text + "|" + s.options.length`
	if v := c.eval(sel); v != "2h|Last 2h|8" {
		t.Errorf("select with window=2h (value|label|options) = %v, want 2h|Last 2h|8", v)
	}
	c.page("/?window=1h")
	c.waitFor("window 1h", `return document.querySelector("#window-select").value === "1h"`)
	if v := c.eval(sel); v != "1h|Last hour|7" {
		t.Errorf("select with window=1h = %v, want 1h|Last hour|7", v)
	}
}

// TestBrowserBadWindowLinks: the links of the error page for an invalid
// window leave it out, instead of leading back to the same error.
func TestBrowserBadWindowLinks(t *testing.T) {
	c := openConsole(t)
	c.page(endpointRoute(c.seed.regressed, "window=bogus"))
	c.waitFor("bad request page", `return (document.querySelector("h1") || {}).textContent === "Bad request"`)
	if v := c.eval(`return Array.from(document.querySelectorAll("main a")).map(a => a.getAttribute("href")).join(" ")`); v != "#/ #/" {
		t.Errorf("links of the error page = %q, want #/ #/", v)
	}
	c.click(".error-box a")
	c.waitFor("overview", endpointRows+` >= 4`)
	// A page that is not found keeps a valid window.
	c.page(endpointRoute("GET /nope", "window=1h"))
	c.waitFor("not found page", `return (document.querySelector("h1") || {}).textContent === "Not found"`)
	if v := c.eval(`return document.querySelector(".error-box a").getAttribute("href")`); v != "#/?window=1h" {
		t.Errorf("Back to endpoints of a not found page = %q, want #/?window=1h", v)
	}
}

// TestBrowserMoreSamples: when the API has more samples than the page
// lists (50), More samples lists the next ones. The engine keeps 80
// samples a field here (20 by default).
func TestBrowserMoreSamples(t *testing.T) {
	requireBrowser(t)
	eng, clk := openEngineWith(t, engine.Options{SamplesPerField: 80})
	ingestSeed(t, eng, clk)
	c := browseConsole(t, eng.QueryServer(), Options{}, nil)
	c.page("/samples?endpoint=" + url.QueryEscape("GET /api/orders/{id}") + "&path=body.order.total")
	c.waitFor("side-by-side table", `return !!document.querySelector("#side-by-side")`)
	keys := `return Array.from(document.querySelectorAll("#sample-list .key")).map(e => e.textContent).join()`
	first, _ := c.eval(keys).(string)
	if c.eval(`return !!document.querySelector("#samples-first")`) != false {
		t.Errorf("the first page links to the first samples")
	}
	c.click("#samples-more")
	c.waitFor("the next samples", `return location.hash.includes("page_token=") && !!document.querySelector("#side-by-side") && (`+strings.TrimPrefix(keys, "return ")+`) !== arguments[0]`, first)
	next, _ := c.eval(keys).(string)
	for _, k := range strings.Split(next, ",") {
		if strings.Contains(","+first+",", ","+k+",") {
			t.Errorf("sample %s listed on both pages", k)
		}
	}
	// A sample picked on the second page keeps the list.
	c.click("#sample-list li:nth-child(2) a")
	c.waitFor("second sample of the page", `return location.hash.includes("key=") && !!document.querySelector('#sample-list li:nth-child(2) a[aria-current="true"]')`)
	if v := c.eval(keys); v != next {
		t.Errorf("list after picking a sample = %v, want %v", v, next)
	}
	c.click("#samples-first")
	c.waitFor("the first samples again", `return !location.hash.includes("page_token=") && (`+strings.TrimPrefix(keys, "return ")+`) === arguments[0]`, first)
}

// TestBrowserCustomRangeInUTC: the custom range is read and written in
// UTC, like every time shown, whatever the browser's time zone.
func TestBrowserCustomRangeInUTC(t *testing.T) {
	t.Setenv("TZ", "Asia/Kolkata") // UTC+5:30, inherited by chromedriver and Chromium
	c := openConsole(t)
	c.page("/?start=2000-01-01T00:00:01Z&end=2000-01-02T00:00:02Z")
	c.waitFor("empty overview", `return !!document.querySelector("#empty")`)
	if v := c.eval(`return new Date(2000, 0, 1).getTimezoneOffset()`); v != float64(-330) {
		t.Logf("the browser's time zone offset is %v min, not Kolkata's -330: the test proves less", v)
	}
	if v := c.eval(`return document.querySelector("#range-start").value + " " + document.querySelector("#range-end").value`); v != "2000-01-01T00:00:01 2000-01-02T00:00:02" {
		t.Errorf("range inputs = %q, want the URL's times in UTC", v)
	}
	if v := c.text(`label[for="range-start"]`); v != "From (UTC)" {
		t.Errorf("range label = %q, want From (UTC)", v)
	}
	c.eval(`document.querySelector("#range-start").value = "2000-01-03T04:05:06"; document.querySelector("#window-form").requestSubmit()`)
	c.waitFor("the new range", `return new URLSearchParams(location.hash.split("?")[1]).get("start") === "2000-01-03T04:05:06.000Z"`)
}

// TestBrowserUniqueIDs: fields whose names differ only in punctuation
// (body.a.b, body.a_b, body.a-b) get ids of their own.
func TestBrowserUniqueIDs(t *testing.T) {
	c, eng := openLiveConsole(t)
	ingestChanged(t, eng, "req-ids", "/api/ids", "a.b", "a_b", "a-b", "a b")
	dups := `const seen = {}, dup = []; document.querySelectorAll("[id]").forEach(e => { if (seen[e.id]) dup.push(e.id); seen[e.id] = true; }); return dup.join(" ")`
	c.page(endpointRoute("GET /api/ids"))
	c.waitFor("the fields", `return document.querySelectorAll('#fields a[id$="-samples"]').length === 4`)
	if v := c.eval(dups); v != "" {
		t.Errorf("duplicate ids on the endpoint page: %v", v)
	}
	// With the interior node body.a (of body.a.b) collapsed, its toggle
	// and the Samples link of body.a_b still differ.
	c.click(`#fields tr[data-path="body.a"] button.toggle`)
	c.waitFor("collapsed body.a", `return !document.querySelector('#fields tr[data-path="body.a.b"]')`)
	if v := c.eval(dups); v != "" {
		t.Errorf("duplicate ids with body.a collapsed: %v", v)
	}
}

// failingNoiseRules is a Query service that refuses to change noise rules.
type failingNoiseRules struct{ shadowdiffv1.QueryServer }

func (failingNoiseRules) CreateNoiseRule(context.Context, *shadowdiffv1.CreateNoiseRuleRequest) (*shadowdiffv1.NoiseRule, error) {
	return nil, status.Error(codes.Unavailable, "store busy")
}

// TestBrowserFailedMarkCanBeRetried: a Mark as noise the API refuses says
// so and leaves its button enabled and focused, to try again.
func TestBrowserFailedMarkCanBeRetried(t *testing.T) {
	requireBrowser(t)
	seed := seedCollector(t)
	c := browseConsole(t, failingNoiseRules{seed.q}, Options{}, seed)
	c.page(endpointRoute(seed.regressed))
	c.waitFor("regressed field row", fieldStatus, seed.regressedField)
	button := `#fields tr[data-path="` + seed.regressedField + `"] button[data-action="mark-noise"]`
	// Clicked until the error shows: a redraw (a poll, a regression event)
	// may replace the button under the click.
	c.waitFor("the error", `const b = document.querySelector(arguments[0]);
		if (document.querySelector("#notice").innerText.includes("store busy")) return true;
		if (b && !b.disabled) { b.focus(); b.click(); }
		return false`, button)
	c.waitFor("the button enabled again", `const b = document.querySelector(arguments[0]); return b && !b.disabled && document.activeElement === b`, button)
}

// TestBrowserTablesHaveCaptions: as docs/console.md says, every table of
// every page has a caption.
func TestBrowserTablesHaveCaptions(t *testing.T) {
	c := openConsole(t)
	seed := c.seed
	const missing = `return Array.from(document.querySelectorAll("table")).filter(t => !t.caption || !t.caption.textContent.trim()).map(t => t.id || "?").join(" ")`
	for route, ready := range map[string]string{
		"/":                           endpointRows + ` >= 4`,
		endpointRoute(seed.regressed): `return !!document.querySelector("#fields")`,
		"/samples?endpoint=" + url.QueryEscape(seed.regressed) + "&path=" + url.QueryEscape(seed.regressedField): `return !!document.querySelector("#differences")`,
	} {
		c.page(route)
		c.waitFor(route, ready)
		if v := c.eval(missing); v != "" {
			t.Errorf("%s: tables without a caption: %v", route, v)
		}
	}
}

// ingestChanged adds 30 GET requests of path whose candidate changes the
// string fields keys (the same in every role but for their value).
func ingestChanged(t *testing.T, eng *engine.Engine, keyPrefix, path string, keys ...string) {
	t.Helper()
	at := time.Now().Add(-2 * time.Minute)
	var ds []*shadowdiffv1.ResponseDigest
	for i := 0; i < 30; i++ {
		for _, role := range roles {
			v := "1"
			if role == candidateID {
				v = "2"
			}
			var fields []fieldSpec
			for _, k := range keys {
				fields = append(fields, fieldSpec{k, typString, shapeText, v, true})
			}
			ds = append(ds, digest(fmt.Sprintf("%s-%04d", keyPrefix, i), role, "GET", path, at, fields, "stamp"))
		}
	}
	if _, rejected, err := eng.Ingest(context.Background(), ds); err != nil || len(rejected) > 0 {
		t.Fatalf("ingest: %v %v", rejected, err)
	}
}

// slowNoiseFields delays the console's loads of fields with noise
// included: the first by first, the later ones by later.
type slowNoiseFields struct {
	shadowdiffv1.QueryServer
	first, later time.Duration
	calls        atomic.Int32
}

func (s *slowNoiseFields) ListFields(ctx context.Context, r *shadowdiffv1.ListFieldsRequest) (*shadowdiffv1.ListFieldsResponse, error) {
	if r.IncludeNoise {
		d := s.later
		if s.calls.Add(1) == 1 {
			d = s.first
		}
		time.Sleep(d)
	}
	return s.QueryServer.ListFields(ctx, r)
}

// A refresh that overtakes a filter's own load (a poll, an event, live
// updates turned back on) and draws the page after that load came back
// and was dropped leaves the focus on the filter too: it was lost when
// the route's load, finding no page of its own drawn, gave up on it.
func TestBrowserFilterKeepsFocusWhenARefreshOvertakes(t *testing.T) {
	requireBrowser(t)
	seed := seedCollector(t)
	c := browseConsole(t, &slowNoiseFields{QueryServer: seed.q, first: 300 * time.Millisecond, later: 1500 * time.Millisecond}, Options{}, seed)
	c.page(endpointRoute(seed.regressed))
	c.waitFor("regressed field row", fieldStatus, seed.regressedField)
	c.eval(`document.querySelector("#fields").dataset.old = "1"`)
	c.eval(`document.querySelector("#include-noise").focus()`)
	c.keys(keySpace)
	// Live updates off and on refresh at once, after the filter's load began.
	c.eval(`const l = document.querySelector("#live-toggle");
		l.checked = false; l.dispatchEvent(new Event("change"));
		l.checked = true; l.dispatchEvent(new Event("change"))`)
	c.waitFor("fields with noise", `return !!document.querySelector("#fields:not([data-old])") && location.hash.includes("noise=1")`)
	if id := c.eval(`return document.activeElement ? document.activeElement.id : ""`); id != "include-noise" {
		t.Errorf("focus after Include noise, the page drawn by an overtaking refresh = %q, want include-noise", id)
	}
}
