package console

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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

func TestBrowserConsole(t *testing.T) {
	requireBrowser(t)
	seed := seedCollector(t)
	srv := httptest.NewServer(New(seed.q, Options{Title: "shadowdiff", Logger: quietLogger()}))
	// Cleanups run last-in first-out: the browser (and its live-update
	// stream) goes before the server, whose Close waits for open requests.
	t.Cleanup(srv.Close)
	b := startBrowser(t)
	shots := screenshotDir(t)

	// Overview: ranked endpoints with ratings.
	b.open(srv.URL + "/#/")
	b.waitFor("endpoint rows", `return document.querySelectorAll("#endpoints tbody tr").length >= 3`)
	got := b.eval(`return Array.from(document.querySelectorAll("#endpoints tbody tr")).map(r => r.dataset.endpoint + "=" + r.querySelector("[data-rating]").dataset.rating)`)
	want := seed.rankedDisplay()
	if !equalAny(got, want) {
		t.Errorf("overview rows = %v, want %v", got, want)
	}
	if v := b.eval(`return document.querySelector("#total-requests").dataset.value`); v != fmt.Sprint(seed.totalRequests) {
		t.Errorf("total requests = %v, want %d", v, seed.totalRequests)
	}
	// Keyboard: the first Tab reaches the skip link, which moves focus to main.
	b.eval(`document.activeElement && document.activeElement.blur(); window.focus()`)
	b.keys("\uE004") // Tab
	if id := b.eval(`return document.activeElement.id`); id != "skip-link" {
		t.Errorf("first Tab focused %q, want skip-link", id)
	}
	b.keys("\uE007") // Enter
	if id := b.eval(`return document.activeElement.id`); id != "main" {
		t.Errorf("skip link moved focus to %q, want main", id)
	}
	if shots != "" {
		b.screenshot(filepath.Join(shots, "overview.png"))
	}
	// The time window goes into the URL (a deep link) and into the queries.
	b.eval(`const s = document.querySelector("#window-select"); s.value = "1h"; s.dispatchEvent(new Event("change"))`)
	b.waitFor("window in URL", `return location.hash.includes("window=1h") && document.querySelectorAll("#endpoints tbody tr").length >= 3`)
	if v := b.eval(`return document.querySelector('#endpoints tbody tr a').getAttribute("href")`); !strings.Contains(v.(string), "window=1h") {
		t.Errorf("endpoint link %v does not keep the time window", v)
	}

	// Endpoint page via the real link.
	b.click(`#endpoints tr[data-endpoint="` + seed.regressed + `"] a`)
	rowStatus := `return (document.querySelector('#fields tr[data-path="' + arguments[0] + '"]') || {dataset: {}}).dataset.status || ""`
	b.waitFor("regressed field row", rowStatus, seed.regressedField)
	if s := b.eval(rowStatus, seed.regressedField); s != "significant" {
		t.Errorf("%s status = %v, want significant", seed.regressedField, s)
	}
	if s := b.eval(rowStatus, seed.noiseField); s != "noise" {
		t.Errorf("%s status = %v, want noise", seed.noiseField, s)
	}
	verdict := `return document.querySelector("h1 [data-verdict]").dataset.verdict`
	if v := b.eval(verdict); v != "REGRESSION" {
		t.Errorf("endpoint verdict = %v, want REGRESSION", v)
	}
	// The tree nests body.order.total under body > order.
	if v := b.eval(`return !!document.querySelector('#fields tr.interior[data-path="body.order"]')`); v != true {
		t.Errorf("field tree has no interior node body.order")
	}
	// Collapse and expand a tree group from the keyboard; focus stays on its toggle.
	toggle := `document.querySelector('#fields tr[data-path="' + arguments[0] + '"] button.toggle')`
	group := seed.regressedField[:strings.LastIndex(seed.regressedField, ".")]
	b.eval(toggle+`.focus()`, group)
	b.keys("\uE007") // Enter
	b.waitFor("collapsed group", `return `+toggle+`.getAttribute("aria-expanded") === "false"`, group)
	if s := b.eval(rowStatus, seed.regressedField); s != "" {
		t.Errorf("collapsed group still shows %s", seed.regressedField)
	}
	b.keys("\uE007")
	b.waitFor("expanded group", `return `+toggle+`.getAttribute("aria-expanded") === "true" && document.activeElement === `+toggle, group)
	if s := b.eval(rowStatus, seed.regressedField); s != "significant" {
		t.Errorf("expanded group: %s status %v", seed.regressedField, s)
	}
	if shots != "" {
		b.eval(`document.activeElement.blur(); window.scrollTo(0, 0)`)
		b.screenshot(filepath.Join(shots, "endpoint.png"))
	}
	endpointURL := b.eval(`return location.href`).(string)

	// Sample page: the differing field is highlighted, the equal one is not.
	b.click(`#fields tr[data-path="` + seed.regressedField + `"] a[id$="-samples"]`)
	cellMark := `return (document.querySelector('#side-by-side tr[data-path="' + arguments[0] + '"] td[data-role="' + arguments[1] + '"]') || {dataset: {mark: "none"}}).dataset.mark || ""`
	b.waitFor("side-by-side table", `return !!document.querySelector("#side-by-side")`)
	for role, want := range map[string]string{"primary": "raw", "candidate": "raw", "secondary": ""} {
		if m := b.eval(cellMark, seed.regressedField, role); m != want {
			t.Errorf("%s %s highlight = %q, want %q", seed.regressedField, role, m, want)
		}
	}
	if m := b.eval(cellMark, seed.sameField, "candidate"); m != "" {
		t.Errorf("%s candidate highlight = %q, want none", seed.sameField, m)
	}
	if m := b.eval(cellMark, seed.noiseField, "secondary"); m != "noise" {
		t.Errorf("%s secondary highlight = %q, want noise", seed.noiseField, m)
	}
	if v, _ := b.eval(`return document.querySelector('#side-by-side tr[data-path="` + seed.regressedField + `"] td[data-role="candidate"]').innerText`).(string); !strings.Contains(v, seed.candidateValue) {
		t.Errorf("candidate cell = %q, want raw value %q", v, seed.candidateValue)
	}
	if shots != "" {
		b.screenshot(filepath.Join(shots, "sample.png"))
	}

	// Mark the regressed field as noise: the endpoint's verdict changes.
	b.open(endpointURL)
	b.waitFor("regressed field row", rowStatus, seed.regressedField)
	b.click(`#fields tr[data-path="` + seed.regressedField + `"] button[data-action="mark-noise"]`)
	b.waitFor("verdict change", `return document.querySelector("h1 [data-verdict]").dataset.verdict !== "REGRESSION"`)
	if v := b.eval(verdict); v != "CLEAN" {
		t.Errorf("verdict after mark as noise = %v, want CLEAN", v)
	}
	if s := b.eval(rowStatus, seed.regressedField); s != "" {
		t.Errorf("suppressed field still listed with noise hidden (status %v)", s)
	}
	// With noise fields shown, the field is listed as suppressed by the rule.
	b.click(`#include-noise`)
	b.waitFor("suppressed field", `return (document.querySelector('#fields tr[data-path="' + arguments[0] + '"]') || {dataset: {}}).dataset.status === "suppressed"`, seed.regressedField)
	if v := b.eval(`return document.querySelectorAll("#noise-rules [data-rule]").length`); v != float64(1) {
		t.Errorf("noise rules listed = %v, want 1", v)
	}
}

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
