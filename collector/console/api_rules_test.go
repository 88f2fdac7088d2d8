package console

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func getFields(t *testing.T, srv *httptest.Server, endpoint, extra string) *shadowdiffv1.ListFieldsResponse {
	t.Helper()
	code, _, body := call(t, "GET", srv.URL+"/api/fields?endpoint="+url.QueryEscape(endpoint)+extra, "", "")
	if code != 200 {
		t.Fatalf("fields of %s%s: %d %s", endpoint, extra, code, body)
	}
	return decode[shadowdiffv1.ListFieldsResponse](t, body)
}

func TestAPIFieldsDecisions(t *testing.T) {
	srv, seed := newAPIServer(t)
	resp := getFields(t, srv, seed.regressed, "")
	reg := fieldByPath(resp.Fields, seed.regressedField)
	if reg == nil || !reg.Significant || !reg.DiffyReported || reg.RawDifferences != seedRequests || reg.Definite != seedRequests || reg.NoiseDifferences != 0 {
		t.Fatalf("%s = %v; want significant, reported by Diffy, %d raw and definite differences, no noise", seed.regressedField, reg, seedRequests)
	}
	if reg.Confidence < 0.99 || reg.PValue > 0.01 || reg.Confidence+reg.PValue != 1 || reg.ExcessRateLower <= 0 || reg.ExcessRate < reg.ExcessRateLower {
		t.Errorf("%s: confidence %v, p %v, excess rate %v (>= %v); want confidence >= 0.99 and a positive lower bound",
			seed.regressedField, reg.Confidence, reg.PValue, reg.ExcessRate, reg.ExcessRateLower)
	}
	if reg.DiffyRelative != 100 || reg.DiffyAbsolute != 100 {
		t.Errorf("%s Diffy numbers = %v / %v, want 100 / 100 (r = T, n = 0)", seed.regressedField, reg.DiffyRelative, reg.DiffyAbsolute)
	}
	noise := fieldByPath(resp.Fields, seed.noiseField)
	if noise == nil || noise.Significant || noise.DiffyReported || noise.NoiseDifferences != seedRequests || noise.NoiseClass != shadowdiffv1.NoiseClass_NOISE_CLASS_ALWAYS {
		t.Errorf("%s = %v; want always noisy, neither significant nor reported", seed.noiseField, noise)
	}
	if same := fieldByPath(resp.Fields, seed.sameField); same == nil || same.RawDifferences != 0 || same.Significant {
		t.Errorf("%s = %v; want listed without differences", seed.sameField, same)
	}
	// The fields come ranked: the significant one first.
	if resp.Fields[0].Path != seed.regressedField {
		t.Errorf("first field = %s, want %s", resp.Fields[0].Path, seed.regressedField)
	}

	// GET /api/time: Diffy reports body.flag, the statistical test needs more.
	flag := fieldByPath(getFields(t, srv, seed.almost, "").Fields, "body.flag")
	if flag == nil || flag.RawDifferences != 3 || !flag.DiffyReported || flag.Significant || flag.Reason == "" {
		t.Errorf("body.flag = %v; want 3 raw differences, reported by Diffy, not significant, with a reason", flag)
	}
	// A known endpoint outside the window: an empty summary, no fields.
	old := getFields(t, srv, seed.regressed, "&window=1m")
	if len(old.Fields) != 0 || old.Endpoint.GetCompared() != 0 || old.Endpoint.GetVerdict() != shadowdiffv1.Verdict_VERDICT_INSUFFICIENT_DATA {
		t.Errorf("fields in the last minute = %d, summary %v; want none", len(old.Fields), old.Endpoint)
	}
}

func TestAPIMarkAsNoiseChangesVerdict(t *testing.T) {
	srv, seed := newAPIServer(t)
	if v := getFields(t, srv, seed.regressed, "").Endpoint.Verdict; v != shadowdiffv1.Verdict_VERDICT_REGRESSION {
		t.Fatalf("verdict before = %v, want REGRESSION", v)
	}

	rule := `{"endpoint":` + jsonString(seed.regressed) + `,"pathPrefix":` + jsonString(seed.regressedField) + `,"comment":"test"}`
	code, _, body := call(t, "POST", srv.URL+"/api/noise-rules", "application/json; charset=utf-8", rule)
	if code != 200 {
		t.Fatalf("create rule: %d %s", code, body)
	}
	created := decode[shadowdiffv1.NoiseRule](t, body)
	if created.Id == "" || created.PathPrefix != seed.regressedField || created.Endpoint != seed.regressed || created.Created == nil {
		t.Fatalf("created rule = %v", created)
	}

	after := getFields(t, srv, seed.regressed, "")
	if after.Endpoint.Verdict != shadowdiffv1.Verdict_VERDICT_CLEAN || after.Endpoint.SignificantFields != 0 || after.Endpoint.DifferenceRate != 0 {
		t.Errorf("after marking %s as noise: verdict %v, significant %d, difference rate %v; want CLEAN, 0, 0",
			seed.regressedField, after.Endpoint.Verdict, after.Endpoint.SignificantFields, after.Endpoint.DifferenceRate)
	}
	if f := fieldByPath(after.Fields, seed.regressedField); f != nil {
		t.Errorf("suppressed field listed without include_noise: %v", f)
	}
	if f := fieldByPath(getFields(t, srv, seed.regressed, "&include_noise=true").Fields, seed.regressedField); f == nil || f.SuppressedByRule != created.Id || f.Significant {
		t.Errorf("with include_noise, field = %v, want suppressed by %s", f, created.Id)
	}
	// The overview ranks the endpoint as clean now.
	resp, _ := getEndpoints(t, srv, "")
	if e := endpointByName(resp, seed.regressed); e == nil || e.Rating != shadowdiffv1.Rating_RATING_PERFECT {
		t.Errorf("overview after the rule: %v, want rated PERFECT", e)
	}
	// Stored samples follow the rule: the difference is noise now.
	if d := sampleDifference(t, srv, seed, seed.regressedField); d == nil || !d.Noise {
		t.Errorf("sample difference on %s after the rule = %v, want noise", seed.regressedField, d)
	}

	code, _, body = call(t, "GET", srv.URL+"/api/noise-rules?endpoint="+url.QueryEscape(seed.regressed), "", "")
	rules := decode[shadowdiffv1.ListNoiseRulesResponse](t, body)
	if code != 200 || len(rules.Rules) != 1 || rules.Rules[0].Id != created.Id {
		t.Errorf("rules: %d %s, want rule %s only", code, body, created.Id)
	}
	code, _, body = call(t, "DELETE", srv.URL+"/api/noise-rules?id="+url.QueryEscape(created.Id), "", "")
	if code != 200 {
		t.Fatalf("delete rule: %d %s", code, body)
	}
	if v := getFields(t, srv, seed.regressed, "").Endpoint.Verdict; v != shadowdiffv1.Verdict_VERDICT_REGRESSION {
		t.Errorf("verdict after deleting the rule = %v, want REGRESSION", v)
	}
}

// The always-noisy fields are offered as rules; applying one removes it.
func TestAPISuggestedRules(t *testing.T) {
	srv, seed := newAPIServer(t)
	list := func() *shadowdiffv1.ListNoiseRulesResponse {
		code, _, body := call(t, "GET", srv.URL+"/api/noise-rules?endpoint="+url.QueryEscape(seed.regressed), "", "")
		if code != 200 {
			t.Fatalf("rules: %d %s", code, body)
		}
		return decode[shadowdiffv1.ListNoiseRulesResponse](t, body)
	}
	var got []string
	for _, s := range list().Suggested {
		got = append(got, s.Rule.PathPrefix)
		if s.Rule.Endpoint != seed.regressed || !strings.Contains(s.Reason, "primary and secondary") {
			t.Errorf("suggestion %v: want endpoint %s and a reason naming the secondary", s, seed.regressed)
		}
	}
	if want := []string{seed.noiseField, "headers.x-generated"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("suggested = %v, want %v", got, want)
	}
	rule := `{"endpoint":` + jsonString(seed.regressed) + `,"pathPrefix":` + jsonString(seed.noiseField) + `}`
	if code, _, body := call(t, "POST", srv.URL+"/api/noise-rules", "application/json", rule); code != 200 {
		t.Fatalf("apply suggestion: %d %s", code, body)
	}
	if s := list().Suggested; len(s) != 1 || s[0].Rule.PathPrefix != "headers.x-generated" {
		t.Errorf("suggested after applying %s = %v", seed.noiseField, s)
	}
}

// sampleDifference returns the primary-vs-candidate difference on path in
// the newest sample of the regressed field.
func sampleDifference(t *testing.T, srv *httptest.Server, seed *seeded, path string) *shadowdiffv1.FieldDifference {
	t.Helper()
	code, _, body := call(t, "GET", srv.URL+"/api/samples?limit=1&endpoint="+url.QueryEscape(seed.regressed)+"&path="+url.QueryEscape(seed.regressedField), "", "")
	if code != 200 {
		t.Fatalf("samples: %d %s", code, body)
	}
	samples := decode[shadowdiffv1.ListSamplesResponse](t, body).Samples
	if len(samples) != 1 {
		t.Fatalf("samples = %d, want 1", len(samples))
	}
	for _, d := range samples[0].Differences {
		if d.Path == path && d.Comparison == shadowdiffv1.Comparison_COMPARISON_RAW {
			return d
		}
	}
	return nil
}

// The console lists endpoint rules and deletes one; a read-only console
// lists them and refuses the deletion.
func TestAPIEndpointRules(t *testing.T) {
	srv, seed := newAPIServer(t)
	rule, err := seed.q.CreateEndpointRule(context.Background(), &shadowdiffv1.CreateEndpointRuleRequest{
		Rule: &shadowdiffv1.EndpointRule{Method: "GET", PathPattern: "/api/users/{name}", Endpoint: "GET /api/users/{name}"}})
	if err != nil {
		t.Fatal(err)
	}
	list := func(srv *httptest.Server) []*shadowdiffv1.EndpointRule {
		t.Helper()
		code, _, body := call(t, "GET", srv.URL+"/api/endpoint-rules", "", "")
		if code != 200 {
			t.Fatalf("list endpoint rules: %d %s", code, body)
		}
		return decode[shadowdiffv1.ListEndpointRulesResponse](t, body).Rules
	}
	if got := list(srv); len(got) != 1 || got[0].Id != rule.Id || got[0].PathPattern != "/api/users/{name}" || got[0].Learned {
		t.Fatalf("endpoint rules = %v, want the one added", got)
	}

	ro := httptest.NewServer(New(seed.q, Options{Logger: quietLogger(), ReadOnly: true}))
	t.Cleanup(ro.Close)
	if got := list(ro); len(got) != 1 {
		t.Errorf("read-only console lists %d endpoint rules, want 1", len(got))
	}
	if code, _, body := call(t, "DELETE", ro.URL+"/api/endpoint-rules?id="+url.QueryEscape(rule.Id), "", ""); code != 403 {
		t.Errorf("delete through a read-only console: %d %s, want 403", code, body)
	}

	if code, _, body := call(t, "DELETE", srv.URL+"/api/endpoint-rules?id="+url.QueryEscape(rule.Id), "", ""); code != 200 {
		t.Fatalf("delete endpoint rule: %d %s", code, body)
	}
	if got := list(srv); len(got) != 0 {
		t.Errorf("after the deletion: %v", got)
	}
	if code, _, body := call(t, "DELETE", srv.URL+"/api/endpoint-rules?id="+url.QueryEscape(rule.Id), "", ""); code != 404 || !strings.Contains(string(body), "NotFound") {
		t.Errorf("delete again: %d %s, want 404 NotFound", code, body)
	}
}
