package cli

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/collector/engine"
	"github.com/shadowdiff/shadowdiff/collector/server"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func TestGateExitCodes(t *testing.T) {
	c := seeded(t)
	n := c.names(t)
	orders, timeEP, products := n[ordersPath], n[timePath], n[productsPath]
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"all endpoints", nil, ExitGate, "gate: FAIL: 1 regressing field(s) in 1 endpoint(s), more than --max-regressions 0"},
		{"the regressed endpoint", []string{orders}, ExitGate, regressedField},
		{"a clean endpoint", []string{products}, ExitOK, "gate: PASS: no regression in 1 judged endpoint(s)"},
		{"noise alone is no regression", []string{timeEP}, ExitOK, "gate: PASS"},
		{"two clean endpoints", []string{products, timeEP}, ExitOK, "gate: PASS: no regression in 2 judged endpoint(s)"},
		{"one regression tolerated", []string{"--max-regressions", "1"}, ExitOK, "within --max-regressions 1"},
		{"Diffy's rule", []string{"--rule", "diffy"}, ExitGate, "rule: Diffy's rule"},
		{"explicit confidence", []string{"--confidence", "0.95"}, ExitGate, "p-value <= 0.05"},
		{"not enough samples", []string{"--min-samples", "100000"}, ExitOK, "3 endpoint(s) with too few compared requests"},
		{"not enough samples is a failure", []string{"--min-samples", "100000", "--fail-on-insufficient-data"}, ExitGate, "gate: FAIL"},
		{"unknown endpoint", []string{"GET /nope"}, ExitFailed, "not found"},
	} {
		r := run(t, c, append([]string{"gate"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.want) {
			t.Errorf("%s: want exit %d with %q:\n%s", tc.name, tc.code, tc.want, r)
		}
	}

	r := run(t, c, "gate", "-o", "json")
	var rep gateReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("gate -o json: %v\n%s", err, r)
	}
	if rep.Result != "FAIL" || rep.Regressions != 1 || len(rep.Endpoints) != 3 {
		t.Errorf("gate -o json = %+v", rep)
	}
	for _, e := range rep.Endpoints {
		want := "VERDICT_CLEAN"
		if e.Endpoint == orders {
			want = "VERDICT_REGRESSION"
			if len(e.Regressions) != 1 || e.Regressions[0].Path != regressedField || e.Regressions[0].Definite == 0 {
				t.Errorf("regressions of %s = %+v, want %s with definite evidence", orders, e.Regressions, regressedField)
			}
		}
		if e.Verdict != want {
			t.Errorf("%s: verdict %s, want %s", e.Endpoint, e.Verdict, want)
		}
	}
}

// TestGateFollowsNoiseRules marks the regressed field as noise: the gate
// passes; deleting the rule makes it fail again.
func TestGateFollowsNoiseRules(t *testing.T) {
	c := seeded(t)
	orders := c.names(t)[ordersPath]
	r := run(t, c, "noise", "add", regressedField, "--endpoint", orders, "--comment", "price change is intended", "-o", "json")
	if r.code != ExitOK {
		t.Fatalf("noise add: %s", r)
	}
	var rule struct{ ID string }
	if err := json.Unmarshal([]byte(r.stdout), &rule); err != nil || rule.ID == "" {
		t.Fatalf("noise add -o json: %v\n%s", err, r)
	}
	if r := run(t, c, "gate"); r.code != ExitOK {
		t.Errorf("gate with the field marked as noise: %s", r)
	}
	if r := run(t, c, "noise", "list"); r.code != ExitOK || !strings.Contains(r.stdout, "price change is intended") {
		t.Errorf("noise list does not show the rule: %s", r)
	}
	if r := run(t, c, "fields", orders); strings.Contains(r.stdout, regressedField) {
		t.Errorf("fields lists a field covered by a rule without --include-noise: %s", r)
	}
	if r := run(t, c, "fields", orders, "--include-noise"); !strings.Contains(r.stdout, regressedField) {
		t.Errorf("fields --include-noise leaves out the covered field: %s", r)
	}
	if r := run(t, c, "noise", "delete", rule.ID); r.code != ExitOK || !strings.Contains(r.stdout, "noise rule "+rule.ID+" deleted") {
		t.Fatalf("noise delete: %s", r)
	}
	if r := run(t, c, "gate"); r.code != ExitGate {
		t.Errorf("gate after deleting the rule: %s", r)
	}
}

// A window with no request in it is not a collector without traffic.
func TestGateEmptyWindow(t *testing.T) {
	c := seeded(t)
	for _, args := range [][]string{{"--from", "2030-01-01T00:00:00Z"}, {"--to", "2020-01-01T00:00:00Z"}} {
		r := run(t, c, append([]string{"gate"}, args...)...)
		if r.code != ExitOK || !strings.Contains(r.stdout, "no request was compared in the window") {
			t.Errorf("gate %q: %s\nwant a PASS saying the window is empty", args, r)
		}
		if r := run(t, c, append([]string{"gate", "--fail-on-insufficient-data"}, args...)...); r.code != ExitGate {
			t.Errorf("gate --fail-on-insufficient-data %q: %s", args, r)
		}
	}
}

func TestGateWithoutTraffic(t *testing.T) {
	c := startCollector(t, server.Options{})
	if r := run(t, c, "gate"); r.code != ExitOK || !strings.Contains(r.stdout, "no endpoint has been compared yet") {
		t.Errorf("gate without traffic: %s", r)
	}
	if r := run(t, c, "gate", "--fail-on-insufficient-data"); r.code != ExitGate {
		t.Errorf("gate --fail-on-insufficient-data without traffic: %s", r)
	}
	if r := run(t, c, "endpoints"); r.code != ExitOK || !strings.Contains(r.stderr, "No endpoints yet") {
		t.Errorf("endpoints without traffic: %s", r)
	}
}

// With a --min-samples below what the statistical test needs, an endpoint
// whose field differed definitely in each of its 30 requests is not judged
// CLEAN (the test cannot call anything a regression at 99% yet); at 95%
// it can, and does.
func TestGateDoesNotCallAnEndpointCleanBeforeTheTestCanDecide(t *testing.T) {
	c := startCollector(t, server.Options{})
	c.ingest(t, seedEndpoint("orders", ordersPath, 30, ordersBody))
	c.waitCompared(t, 30)
	orders := "GET " + ordersPath // templated: the path ends in {id}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"the collector's minimum", nil, ExitOK, "needs 100 compared requests (the collector's --min-samples), has 30"},
		{"a PASS that judged nothing says so", nil, ExitOK, "no endpoint could be judged (a PASS that judged nothing: --fail-on-insufficient-data fails instead)"},
		{"a minimum below the test's", []string{"--min-samples", "5"}, ExitOK, orders + ": needs more compared requests: with 30, even a field differing in every one would have p = 0.018 > 0.01"},
		{"a minimum below the test's is a failure", []string{"--min-samples", "5", "--fail-on-insufficient-data"}, ExitGate, "1 endpoint(s) with too few compared requests to judge"},
		{"at a confidence the test reaches", []string{"--min-samples", "5", "--confidence", "0.95"}, ExitGate, "1 regressing field(s)"},
		{"Diffy's rule has no minimum", []string{"--min-samples", "5", "--rule", "diffy"}, ExitGate, "1 regressing field(s)"},
	} {
		r := run(t, c, append([]string{"gate"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stdout, tc.want) {
			t.Errorf("%s: want exit %d with %q:\n%s", tc.name, tc.code, tc.want, r)
		}
	}
}

// gate --min-samples below the collector's --min-samples judges the fields
// itself: the collector's significant flag waits for its own minimum.
func TestGateJudgesBelowTheCollectorsMinimum(t *testing.T) {
	c := startCollector(t, server.Options{}) // --min-samples 100
	c.ingest(t, seedEndpoint("orders", ordersPath, 60, ordersBody))
	c.waitCompared(t, 60)
	orders := "GET " + ordersPath
	if r := run(t, c, "gate"); r.code != ExitOK || !strings.Contains(r.stdout, "needs 100 compared requests (the collector's --min-samples), has 60") {
		t.Errorf("gate at the collector's minimum: %s", r)
	}
	r := run(t, c, "gate", "--min-samples", "50")
	if r.code != ExitGate || !strings.Contains(r.stdout, orders+"  "+regressedField+": differs in 60 of 60") ||
		!strings.Contains(r.stdout, "p = ") || !strings.Contains(r.stdout, "<= 0.01") {
		t.Errorf("gate --min-samples 50 on 60 definite differences: %s", r)
	}
}

func TestGateEndpointsGivenByName(t *testing.T) {
	c := seeded(t)
	orders := c.names(t)[ordersPath]
	// Named twice, judged once.
	if r := run(t, c, "gate", orders, orders, "--max-regressions", "1"); r.code != ExitOK || !strings.Contains(r.stdout, "1 regressing field(s), within --max-regressions 1") {
		t.Errorf("an endpoint named twice: %s", r)
	}
	// Known, but without traffic in the window: not judged, not unknown.
	r := run(t, c, "gate", orders, "--since", "1m")
	if r.code != ExitOK || !strings.Contains(r.stdout, orders+": no request in the time range") {
		t.Errorf("an endpoint without traffic in the window: %s", r)
	}
	if r := run(t, c, "gate", orders, "--since", "1m", "--fail-on-insufficient-data"); r.code != ExitGate {
		t.Errorf("an endpoint without traffic in the window, --fail-on-insufficient-data: %s", r)
	}
}

// The gate explains a regression by the rule that found it, and writes
// its level as given.
func TestGateExplainsByItsRule(t *testing.T) {
	c := seeded(t)
	orders := c.names(t)[ordersPath]
	r := run(t, c, "gate", orders, "--rule", "diffy")
	if !strings.Contains(r.stdout, "Diffy's rule: differs in") || !strings.Contains(r.stdout, "relative 100.0 % > 20 %") {
		t.Errorf("gate --rule diffy: %s", r)
	}
	r = run(t, c, "gate", orders, "--confidence", "0.99")
	if !strings.Contains(r.stdout, "p-value <= 0.01)") || !strings.Contains(r.stdout, "<= 0.01") || strings.Contains(r.stdout, "0.0100000") {
		t.Errorf("gate --confidence 0.99: %s", r)
	}
}

// Endpoints whose requests were all side effects (POST, ...) are never
// compared: the gate says so and does not count them as too small, so
// --fail-on-insufficient-data works for a service that has them.
func TestGateSkipsSideEffectOnlyEndpoints(t *testing.T) {
	c := seeded(t)
	posts := seedEndpoint("post", "/api/orders", 20, productsBody)
	for _, d := range posts {
		d.Endpoint.Method, d.Request.Method = "POST", "POST"
		if d.Role != shadowdiffv1.Role_ROLE_PRIMARY {
			d.Skip, d.Status, d.Body = shadowdiffv1.SkipReason_SKIP_REASON_SIDE_EFFECT, 204, nil
		}
	}
	c.ingest(t, posts)
	products := c.names(t)[productsPath]
	r := run(t, c, "gate", products, "POST /api/orders", "--fail-on-insufficient-data")
	if r.code != ExitOK || !strings.Contains(r.stdout, "POST /api/orders: side effects only") ||
		!strings.Contains(r.stdout, "1 endpoint(s) with side effects only, not compared") {
		t.Errorf("gate with a side-effect endpoint: %s", r)
	}
	// Nothing to compare is not too little to judge.
	if r := run(t, c, "gate", "POST /api/orders", "--fail-on-insufficient-data"); r.code != ExitOK || !strings.Contains(r.stdout, "gate: PASS: nothing to compare") {
		t.Errorf("gate on side effects alone: %s", r)
	}
	// In JSON, verdicts are named as the API's enum (endpoints -o json),
	// the skipped one as the console names it; tables drop the prefix.
	r = run(t, c, "gate", products, "POST /api/orders", "-o", "json")
	var rep gateReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Endpoints) != 2 ||
		rep.Endpoints[0].Verdict != "VERDICT_CLEAN" || rep.Endpoints[1].Verdict != "VERDICT_SKIPPED" {
		t.Errorf("gate -o json: %v, want VERDICT_CLEAN and VERDICT_SKIPPED\n%s", err, r)
	}
	if r := run(t, c, "gate", "POST /api/orders"); !regexp.MustCompile(`POST /api/orders +SKIPPED `).MatchString(r.stdout) {
		t.Errorf("gate table: %s, want the verdict SKIPPED", r)
	}
}

// --rule diffy and --confidence judge every endpoint past the collector's
// --min-samples at their own level: the collector's INSUFFICIENT_DATA also
// means "the test cannot reach the collector's level yet", which is not
// theirs. Here one identical request repeated leaves the no-secondary test
// little power (p >= 0.119 at 300 requests).
func TestGateRulesJudgeAtTheirOwnLevel(t *testing.T) {
	c := startCollector(t, server.Options{}) // --min-samples 100
	var ds []*shadowdiffv1.ResponseDigest
	for _, d := range append(seedEndpoint("orders", ordersPath, 300, ordersBody), seedEndpoint("again", ordersPath, 1, ordersBody)...) {
		if d.Role != shadowdiffv1.Role_ROLE_SECONDARY {
			ds = append(ds, d)
		}
	}
	c.ingest(t, ds)
	c.waitCompared(t, 301)
	if r := run(t, c, "gate"); r.code != ExitOK || !strings.Contains(r.stdout, "needs more compared requests: with 301") {
		t.Errorf("gate at the collector's level: %s", r)
	}
	if r := run(t, c, "gate", "--rule", "diffy"); r.code != ExitGate || !strings.Contains(r.stdout, "Diffy's rule: differs in 301") {
		t.Errorf("gate --rule diffy: %s", r)
	}
}

// A collector from before significance_level cannot say at which level
// its fields would be significant below its own --min-samples: the gate
// does not call them CLEAN there.
func TestGateWithAnOlderCollector(t *testing.T) {
	c := startCollectorWith(t, server.Options{}, func(q shadowdiffv1.QueryServer) shadowdiffv1.QueryServer { return olderQuery{q} })
	c.ingest(t, seedEndpoint("orders", ordersPath, 60, ordersBody))
	c.waitCompared(t, 60)
	if r := run(t, c, "gate"); r.code != ExitOK || !strings.Contains(r.stdout, "too few compared requests") {
		t.Errorf("gate: %s", r)
	}
	if r := run(t, c, "gate", "--min-samples", "50"); r.code != ExitOK || !strings.Contains(r.stdout, "give --confidence too") {
		t.Errorf("gate --min-samples 50: %s", r)
	}
	if r := run(t, c, "gate", "--min-samples", "50", "--confidence", "0.99"); r.code != ExitGate {
		t.Errorf("gate --min-samples 50 --confidence 0.99: %s", r)
	}
}

// olderQuery answers as a collector before the summary's verdict fields.
type olderQuery struct{ shadowdiffv1.QueryServer }

func (q olderQuery) ListEndpoints(ctx context.Context, r *shadowdiffv1.ListEndpointsRequest) (*shadowdiffv1.ListEndpointsResponse, error) {
	resp, err := q.QueryServer.ListEndpoints(ctx, r)
	for _, e := range resp.GetEndpoints() {
		older(e)
	}
	return resp, err
}

func (q olderQuery) ListFields(ctx context.Context, r *shadowdiffv1.ListFieldsRequest) (*shadowdiffv1.ListFieldsResponse, error) {
	resp, err := q.QueryServer.ListFields(ctx, r)
	older(resp.GetEndpoint())
	return resp, err
}

func older(e *shadowdiffv1.EndpointSummary) {
	if e != nil {
		e.AttainablePValue, e.SignificanceLevel, e.VerdictReason, e.MinSamples = 0, 0, "", 0
	}
}

// The overflow endpoint ("GET {other}": new paths past the collector's
// --max-endpoints) mixes unrelated paths: the gate never judges it, says
// how many requests it holds, and --fail-on-insufficient-data fails on it.
func TestGateSkipsTheOverflowEndpoint(t *testing.T) {
	c := startCollectorWith(t, server.Options{}, nil, func(o *engine.Options) { o.MaxEndpoints = 1 })
	c.ingest(t, seedTraffic())
	c.waitCompared(t, 3*seedRequests)
	// The one endpoint with a place regresses: allowed here, to see what
	// the overflow alone does.
	r := run(t, c, "gate", "--max-regressions", "10")
	if r.code != ExitOK || !strings.Contains(r.stdout, "past the collector's --max-endpoints, not judged") || !strings.Contains(r.stdout, "GET {other}: requests to new paths") {
		t.Errorf("gate with an overflow endpoint: %s", r)
	}
	if r := run(t, c, "gate", "--max-regressions", "10", "--fail-on-insufficient-data"); r.code != ExitGate {
		t.Errorf("gate --fail-on-insufficient-data with an overflow endpoint: %s, want exit %d", r, ExitGate)
	}
}

// Endpoints counted before a learned rule named their paths are not judged
// (the rule's endpoint carries their traffic now): the gate says so and
// does not count them as too little data.
func TestGateSkipsSupersededEndpoints(t *testing.T) {
	c := startCollectorWith(t, server.Options{}, nil, func(o *engine.Options) { o.AutoTemplateThreshold = 3 })
	slugs := func(names ...string) (ds []*shadowdiffv1.ResponseDigest) {
		for _, name := range names {
			ds = append(ds, seedEndpoint("slug-"+name, "/api/users/"+name+"/cart", 1, productsBody)...)
		}
		return ds
	}
	// Three endpoints of their own, then the fourth name teaches the rule.
	c.ingest(t, append(seedTraffic(), slugs("alice", "bob", "carol")...))
	c.waitCompared(t, 3*seedRequests+3)
	c.ingest(t, slugs("dave", "erin"))
	c.waitCompared(t, 3*seedRequests+5)
	r := run(t, c, "gate", "--max-regressions", "10")
	if r.code != ExitOK || !strings.Contains(r.stdout, "3 endpoint(s) that no more requests will reach") {
		t.Errorf("gate with superseded endpoints: %s", r)
	}
}

// A regression on an endpoint a rule renamed stays a regression: the gate
// judges it by its own rule, even when the collector's minimum is above
// what the endpoint has (it gets no more requests to reach it).
func TestGateJudgesARenamedEndpointByItsOwnRule(t *testing.T) {
	c := startCollectorWith(t, server.Options{}, nil, func(o *engine.Options) { o.MinSamples = 300 })
	c.ingest(t, seedTraffic())
	c.waitCompared(t, 3*seedRequests)
	if r := run(t, c, "endpoint-rules", "add", "/api/orders/{order}", "orders", "--method", "GET"); r.code != ExitOK {
		t.Fatalf("add rule: %s", r)
	}
	if r := run(t, c, "gate", "--min-samples", "100"); r.code != ExitGate || !strings.Contains(r.stdout, "body.order.total") {
		t.Errorf("gate over the renamed regressing endpoint: %s, want exit %d naming body.order.total", r, ExitGate)
	}
}
