package console

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// The browser tests load the console in headless Chromium against a real
// collector engine holding the seeded traffic (digests_test.go) and assert
// what that traffic implies.

// consoleUnderTest is a console served over a seeded engine, with a browser.
type consoleUnderTest struct {
	*browser
	t     *testing.T
	seed  *seeded
	url   string // base URL, ending in "/"
	shots string // screenshot directory, "" unless SHADOWDIFF_SCREENSHOTS=1
}

func openConsole(t *testing.T) *consoleUnderTest {
	t.Helper()
	requireBrowser(t)
	seed := seedCollector(t)
	c := browseConsole(t, seed.q, Options{Title: "shadowdiff"}, seed)
	c.shots = screenshotDir(t)
	return c
}

// browseConsole serves a console over q (with opts and a quiet logger) and
// opens a browser on it; seed describes q's data when it is the seed's.
func browseConsole(t *testing.T, q shadowdiffv1.QueryServer, opts Options, seed *seeded) *consoleUnderTest {
	t.Helper()
	opts.Logger = quietLogger()
	srv := httptest.NewServer(New(q, opts))
	// Cleanups run last-in first-out: the browser (and its live-update
	// stream) goes before the server, whose Close waits for open requests.
	t.Cleanup(srv.Close)
	return &consoleUnderTest{browser: startBrowser(t), t: t, seed: seed, url: srv.URL + "/"}
}

// screenshotDir is where SHADOWDIFF_SCREENSHOTS=1 writes the page images
// committed for docs/console.md.
func screenshotDir(t *testing.T) string {
	if os.Getenv("SHADOWDIFF_SCREENSHOTS") != "1" {
		return ""
	}
	dir, err := filepath.Abs("../../docs/screenshots")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shot saves the page as name.png when screenshots are asked for; focus
// rings and scroll position are reset first so the images are stable.
func (c *consoleUnderTest) shot(name string) {
	c.t.Helper()
	if c.shots == "" {
		return
	}
	c.eval(`document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)`)
	c.screenshot(filepath.Join(c.shots, name+".png"))
}

// page opens a route of the app (the part after "#").
func (c *consoleUnderTest) page(route string) {
	c.t.Helper()
	c.open(c.url + "#" + route)
}

func endpointRoute(name string, extra ...string) string {
	return "/endpoint?" + strings.Join(append([]string{"name=" + url.QueryEscape(name)}, extra...), "&")
}

// text returns the visible text of the first element matching css, or "".
func (c *consoleUnderTest) text(css string) string {
	c.t.Helper()
	s, _ := c.eval(`const e = document.querySelector(arguments[0]); return e ? e.innerText : ""`, css).(string)
	return s
}

const endpointRows = `return document.querySelectorAll("#endpoints tbody tr").length`

func TestBrowserOverview(t *testing.T) {
	c := openConsole(t)
	seed := c.seed
	c.page("/")
	c.waitFor("endpoint rows", endpointRows+` >= 4`)
	got := c.eval(`return Array.from(document.querySelectorAll("#endpoints tbody tr")).map(r => r.dataset.endpoint + "=" + r.querySelector("[data-rating]").dataset.rating)`)
	if want := seed.rankedDisplay(); !equalAny(got, want) {
		t.Errorf("overview rows = %v, want %v", got, want)
	}
	// Where the traffic went.
	for id, want := range map[string]uint64{"requests": seed.totalRequests, "compared": seed.compared, "skipped": seed.skipped, "incomplete": seed.incomplete, "mismatch": 0} {
		if v := c.eval(`return document.querySelector("#total-" + arguments[0]).dataset.value`, id); v != fmt.Sprint(want) {
			t.Errorf("total %s = %v, want %d", id, v, want)
		}
	}
	row := func(endpoint, col string) string {
		return c.text(`#endpoints tr[data-endpoint="` + endpoint + `"] td[data-col="` + col + `"]`)
	}
	for endpoint, want := range map[string]string{
		seed.sideEffects: fmt.Sprintf("%d skipped (side effects)", seed.skipped),
		seed.regressed:   fmt.Sprintf("%d incomplete (no candidate %d)", seed.incomplete, seed.incomplete),
		seed.clean:       "—",
	} {
		if v := row(endpoint, "not-compared"); v != want {
			t.Errorf("%s not compared = %q, want %q", endpoint, v, want)
		}
	}
	for endpoint, want := range map[string]string{seed.regressed: "100.0 %", seed.almost: "1.00 %", seed.clean: "0 %", seed.sideEffects: "—"} {
		if v := row(endpoint, "difference-rate"); v != want {
			t.Errorf("%s difference rate = %q, want %q", endpoint, v, want)
		}
	}
	// Side effects only: never judged, SKIPPED as the CLI and the gate say.
	if v := c.eval(`return document.querySelector('#endpoints tr[data-endpoint="' + arguments[0] + '"] [data-verdict]').dataset.verdict`, seed.sideEffects); v != "SKIPPED" {
		t.Errorf("%s verdict badge = %v, want SKIPPED", seed.sideEffects, v)
	}
	c.shot("overview")

	// Keyboard: the first Tab reaches the skip link, which moves focus to
	// main; the next Tab reaches the top-ranked endpoint and Enter opens it.
	c.eval(`document.activeElement && document.activeElement.blur(); window.focus()`)
	c.keys(keyTab)
	if id := c.eval(`return document.activeElement.id`); id != "skip-link" {
		t.Errorf("first Tab focused %q, want skip-link", id)
	}
	c.keys(keyEnter)
	if id := c.eval(`return document.activeElement.id`); id != "main" {
		t.Errorf("skip link moved focus to %q, want main", id)
	}
	c.keys(keyTab)
	if v := c.eval(`return document.activeElement.textContent`); v != seed.regressed {
		t.Errorf("Tab from main focused %q, want the link to %s", v, seed.regressed)
	}
	c.keys(keyEnter)
	c.waitFor("endpoint page", `return !!document.querySelector("h1 [data-verdict]")`)
	if v := c.eval(`return new URLSearchParams(location.hash.split("?")[1]).get("name")`); v != seed.regressed {
		t.Errorf("Enter on the endpoint link opened %v, want %s", v, seed.regressed)
	}

	// The time window goes into the URL (a deep link) and into the queries.
	c.page("/")
	c.waitFor("endpoint rows", endpointRows+` >= 4`)
	c.eval(`const s = document.querySelector("#window-select"); s.value = "1h"; s.dispatchEvent(new Event("change"))`)
	// The redrawn rows link with the window (the old ones did not).
	c.waitFor("links with the window", `const a = document.querySelector('#endpoints tbody tr a'); return location.hash.includes("window=1h") && a && a.getAttribute("href").includes("window=1h")`)
	if v := c.eval(endpointRows); v != float64(4) {
		t.Errorf("endpoints in the last hour = %v, want 4", v)
	}
	// A window before the traffic: nothing to show, the custom range set.
	c.page("/?start=2000-01-01T00:00:00Z&end=2000-01-02T00:00:00Z")
	c.waitFor("empty overview", `return !!document.querySelector("#empty")`)
	if v := c.eval(`return document.querySelector("#window-select").value + " " + document.querySelector("#total-requests").dataset.value`); v != "custom 0" {
		t.Errorf("old window: select and requests = %v, want custom 0", v)
	}
}

const (
	keyTab   = "\uE004"
	keyEnter = "\uE007"
	keySpace = "\uE00D"
)

func equalAny(got any, want []string) bool {
	l, ok := got.([]any)
	if !ok || len(l) != len(want) {
		return false
	}
	for i := range l {
		if l[i] != want[i] {
			return false
		}
	}
	return true
}
