package console

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shadowdiff/shadowdiff/collector/engine"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// fieldStatus is the decision a field row shows, "" when it is not listed.
const fieldStatus = `return (document.querySelector('#fields tr[data-path="' + arguments[0] + '"]') || {dataset: {}}).dataset.status || ""`

// fieldCell is the text of a column (1-based) of a field row.
const fieldCell = `const r = document.querySelector('#fields tr[data-path="' + arguments[0] + '"]'); return r ? r.cells[arguments[1] - 1].innerText : ""`

const verdictNow = `return document.querySelector("h1 [data-verdict]").dataset.verdict`

func TestBrowserEndpoint(t *testing.T) {
	c := openConsole(t)
	seed := c.seed
	// A deep link straight to the endpoint page.
	c.page(endpointRoute(seed.regressed))
	c.waitFor("regressed field row", fieldStatus, seed.regressedField)
	if v := c.eval(verdictNow); v != "REGRESSION" {
		t.Errorf("verdict = %v, want REGRESSION", v)
	}
	if v := c.text("#sum-significant dd"); v != "1 (Diffy: 1)" {
		t.Errorf("significant fields = %q, want both decisions: 1 (Diffy: 1)", v)
	}
	if v := c.text("#sum-verdict dd"); !strings.HasPrefix(v, "1 field(s) differ significantly more often than noise explains") {
		t.Errorf("verdict reason = %q", v)
	}
	if v := c.text("#sum-not-compared"); !strings.Contains(v, "7 incomplete (no candidate 7)") {
		t.Errorf("not compared = %q", v)
	}
	// Both decision numbers of the regressed field, and the confidence.
	for col, want := range map[int]string{2: "Significant regression", 3: "300", 5: "100.00 % / 100.00 %", 6: "100.00 % (p "} {
		if v, _ := c.eval(fieldCell, seed.regressedField, col).(string); !strings.HasPrefix(v, want) {
			t.Errorf("%s column %d = %q, want it to start with %q", seed.regressedField, col, v, want)
		}
	}
	if v, _ := c.eval(fieldCell, seed.regressedField, 5).(string); !strings.Contains(v, "Diffy reports it") {
		t.Errorf("Diffy column = %q", v)
	}
	// Unchanged fields are hidden until asked for.
	if s := c.eval(fieldStatus, seed.sameField); s != "" {
		t.Errorf("%s listed (%v) while unchanged fields are hidden", seed.sameField, s)
	}
	c.click("#include-same")
	c.waitFor("unchanged field", `return (`+strings.TrimPrefix(fieldStatus, "return ")+`) === "same" && location.hash.includes("same=1")`, seed.sameField)
	if v := c.eval(`return document.querySelectorAll('#fields tr[data-path="' + arguments[0] + '"] [data-action]').length`, seed.sameField); v != float64(0) {
		t.Errorf("%s offers %v actions; an unchanged field cannot be noise", seed.sameField, v)
	}
	c.click("#include-same")
	c.waitFor("unchanged fields hidden again", `return !location.hash.includes("same=1") && !!document.querySelector("#fields")`)
	if s := c.eval(fieldStatus, seed.sameField); s != "" {
		t.Errorf("%s still listed (%v)", seed.sameField, s)
	}
	// Noise is excluded by default; the switch includes it (and goes into the URL).
	if s := c.eval(fieldStatus, seed.noiseField); s != "" {
		t.Errorf("%s listed (%v) while noise is excluded", seed.noiseField, s)
	}
	if v := c.text("#noise-note"); !strings.Contains(v, "2 noisy fields") {
		t.Errorf("noise note = %q, want 2 noisy fields hidden", v)
	}
	c.click("#include-noise")
	c.waitFor("noise field", `return (`+strings.TrimPrefix(fieldStatus, "return ")+`) === "noise" && location.hash.includes("noise=1")`, seed.noiseField)
	if v, _ := c.eval(fieldCell, seed.noiseField, 4).(string); !strings.HasPrefix(v, "300") {
		t.Errorf("%s noise n = %q, want 300", seed.noiseField, v)
	}
	// The tree nests body.order.total under body > order.
	if v := c.eval(`return !!document.querySelector('#fields tr.interior[data-path="body.order"]')`); v != true {
		t.Errorf("field tree has no interior node body.order")
	}
	// Collapse and expand a group from the keyboard; focus stays on its toggle.
	toggle := `document.querySelector('#fields tr[data-path="' + arguments[0] + '"] button.toggle')`
	group := seed.regressedField[:strings.LastIndex(seed.regressedField, ".")]
	c.eval(toggle+`.focus()`, group)
	c.keys(keyEnter)
	c.waitFor("collapsed group", `return `+toggle+`.getAttribute("aria-expanded") === "false"`, group)
	if s := c.eval(fieldStatus, seed.regressedField); s != "" {
		t.Errorf("collapsed group still shows %s", seed.regressedField)
	}
	c.keys(keySpace)
	c.waitFor("expanded group", `return `+toggle+`.getAttribute("aria-expanded") === "true" && document.activeElement === `+toggle, group)
	if s := c.eval(fieldStatus, seed.regressedField); s != "significant" {
		t.Errorf("expanded group: %s status %v", seed.regressedField, s)
	}
	c.shot("endpoint")

	// Mark the regressed field as noise: a rule, and the verdict changes.
	c.click(`#fields tr[data-path="` + seed.regressedField + `"] button[data-action="mark-noise"]`)
	c.waitFor("verdict change", `return document.querySelector("h1 [data-verdict]").dataset.verdict !== "REGRESSION"`)
	if v := c.eval(verdictNow); v != "CLEAN" {
		t.Errorf("verdict after mark as noise = %v, want CLEAN", v)
	}
	c.waitFor("suppressed field", `return (`+strings.TrimPrefix(fieldStatus, "return ")+`) === "suppressed"`, seed.regressedField)
	if v := c.eval(`return Array.from(document.querySelectorAll("#noise-rules [data-rule] code")).map(e => e.textContent).join()`); v != seed.regressedField {
		t.Errorf("noise rules listed = %v, want %s", v, seed.regressedField)
	}
	// Keyboard users land on the notice's Undo button (the row they used changed).
	if v := c.eval(`return document.activeElement.textContent`); v != "Undo" {
		t.Errorf("focus after marking = %q, want the Undo button", v)
	}
	c.keys(keyEnter)
	c.waitFor("verdict back", `return document.querySelector("h1 [data-verdict]").dataset.verdict === "REGRESSION"`)
	if v := c.eval(`return document.querySelectorAll("#noise-rules [data-rule]").length`); v != float64(0) {
		t.Errorf("noise rules after undo = %v, want 0", v)
	}
	// The Undo button is gone with its message: the new message has the focus.
	if v := c.eval(`const a = document.activeElement; return document.querySelector("#notice").contains(a) ? a.innerText : "focus on " + a.tagName`); !strings.Contains(v.(string), "deleted") {
		t.Errorf("focus after Undo = %q, want the message saying the rule was deleted", v)
	}
}

// TestBrowserEndpointUndecided: with --min-samples 5 and 30 requests, the
// statistical test cannot call anything a regression yet; the page says
// so instead of showing the endpoint CLEAN and its field not significant.
func TestBrowserEndpointUndecided(t *testing.T) {
	requireBrowser(t)
	eng, _ := openEngineWith(t, engine.Options{MinSamples: 5})
	var first30 []*shadowdiffv1.ResponseDigest
	for _, d := range seedDigests(time.Now().Add(-3 * time.Minute)) {
		var i int
		if _, err := fmt.Sscanf(d.PairingKey, "req-0-%d", &i); err == nil && i < 30 {
			first30 = append(first30, d)
		}
	}
	if _, rejected, err := eng.Ingest(context.Background(), first30); err != nil || len(rejected) > 0 {
		t.Fatalf("ingest: %v %v", rejected, err)
	}
	c := browseConsole(t, eng.QueryServer(), Options{}, nil)
	c.page(endpointRoute("GET /api/orders/{id}"))
	c.waitFor("regressed field row", fieldStatus, "body.order.total")
	if v := c.eval(verdictNow); v != "INSUFFICIENT_DATA" {
		t.Errorf("verdict = %v, want INSUFFICIENT_DATA", v)
	}
	if v := c.eval(fieldStatus, "body.order.total"); v != "insufficient" {
		t.Errorf("body.order.total status = %v, want insufficient", v)
	}
	if v := c.text("#sum-verdict dd"); !strings.Contains(v, "with 30, even a field differing in every one would have p = 0.018 > 0.01") {
		t.Errorf("verdict reason = %q", v)
	}
}

// TestBrowserReadOnlyConsole: a read-only console (--console-read-only)
// offers no button that changes noise or endpoint rules, says why, and its
// API refuses a rule.
func TestBrowserReadOnlyConsole(t *testing.T) {
	requireBrowser(t)
	seed := seedCollector(t)
	c := browseConsole(t, seed.q, Options{ReadOnly: true}, seed)
	c.page(endpointRoute(seed.regressed))
	c.waitFor("regressed field row", fieldStatus, seed.regressedField)
	c.waitFor("rules panel", `return !!document.querySelector("#noise-rules")`)
	if n := c.eval(`return document.querySelectorAll("#fields [data-action], #noise-rules button").length`); n != float64(0) {
		t.Errorf("%v rule buttons on a read-only console", n)
	}
	if v := c.text("#read-only-note"); !strings.Contains(v, "--console-read-only") {
		t.Errorf("read-only note = %q", v)
	}
	resp, err := http.Post(c.url+"api/noise-rules", "application/json", strings.NewReader(`{"pathPrefix":"body.meta"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a rule through a read-only console: %d, want 403", resp.StatusCode)
	}

	if _, err := seed.q.CreateEndpointRule(context.Background(), &shadowdiffv1.CreateEndpointRuleRequest{
		Rule: &shadowdiffv1.EndpointRule{PathPattern: "/api/teams/{team}", Endpoint: "teams"}}); err != nil {
		t.Fatal(err)
	}
	c.page("/")
	c.waitFor("the endpoint rule", `return document.querySelectorAll("#endpoint-rules li").length === 1`)
	if n := c.eval(`return document.querySelectorAll("#endpoint-rules button").length`); n != float64(0) {
		t.Errorf("%v endpoint rule buttons on a read-only console", n)
	}
	if v := c.text("#endpoint-rules li"); !strings.HasPrefix(v, "any method /api/teams/{team} → teams") {
		t.Errorf("rule without a method shown as %q", v)
	}
}

// TestBrowserEndpointRules: the overview lists endpoint rules, marked
// added or learned, and deletes one.
func TestBrowserEndpointRules(t *testing.T) {
	c := openConsole(t)
	ctx := context.Background()
	rule, err := c.seed.q.CreateEndpointRule(ctx, &shadowdiffv1.CreateEndpointRuleRequest{
		Rule: &shadowdiffv1.EndpointRule{Method: "GET", PathPattern: "/api/users/{name}", Endpoint: "GET /api/users/{name}"}})
	if err != nil {
		t.Fatal(err)
	}
	c.page("/")
	const ruleItem = `return document.querySelector('#endpoint-rules li[data-endpoint-rule="' + arguments[0] + '"]')`
	c.waitFor("the endpoint rule", ruleItem+` !== null`, rule.Id)
	if v, _ := c.eval(ruleItem+`.innerText`, rule.Id).(string); !strings.Contains(v, "GET /api/users/{name} → GET /api/users/{name}") || !strings.Contains(v, "added") {
		t.Errorf("endpoint rule shown as %q", v)
	}
	c.click(`#endpoint-rules li[data-endpoint-rule="` + rule.Id + `"] button`)
	// Not the notice's text: a live regression event may replace it.
	c.waitFor("no endpoint rule", `return !!document.querySelector("#no-endpoint-rules")`)
	left, err := c.seed.q.ListEndpointRules(ctx, &shadowdiffv1.ListEndpointRulesRequest{})
	if err != nil || len(left.Rules) != 0 {
		t.Errorf("rules left in the collector: %v %v", left.GetRules(), err)
	}
}

// failingRules is a Query service whose endpoint rules cannot be read.
type failingRules struct{ shadowdiffv1.QueryServer }

func (failingRules) ListEndpointRules(context.Context, *shadowdiffv1.ListEndpointRulesRequest) (*shadowdiffv1.ListEndpointRulesResponse, error) {
	return nil, status.Error(codes.Internal, "disk error")
}

// TestBrowserOverviewWithoutEndpointRules: when the endpoint rules cannot
// be read, the overview still shows the endpoints, and the rules panel
// says why it is empty.
func TestBrowserOverviewWithoutEndpointRules(t *testing.T) {
	requireBrowser(t)
	seed := seedCollector(t)
	c := browseConsole(t, failingRules{seed.q}, Options{}, seed)
	c.page("/")
	c.waitFor("endpoint rows", endpointRows+` >= 4`)
	if v := c.text("#endpoint-rules-error"); !strings.Contains(v, "disk error") {
		t.Errorf("endpoint rules panel = %q, want the error", v)
	}
}
