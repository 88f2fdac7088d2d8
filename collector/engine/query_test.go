package engine

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// serveQuery serves the engine's Query service on a loopback TCP port and
// returns a client.
func serveQuery(t *testing.T, e *Engine) shadowdiffv1.QueryClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	shadowdiffv1.RegisterQueryServer(srv, e.QueryServer())
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return shadowdiffv1.NewQueryClient(conn)
}

// seedShop ingests n triples for three endpoints: /orders/{id} where the
// candidate changes order.total (and a timestamp is noisy everywhere),
// servedShop opens an engine with opts on clk, seeds it with n requests
// of the shop (seedShop) and serves its Query API; the engine closes with
// the test.
func servedShop(t *testing.T, clk *clock, opts Options, n int) (*Engine, shadowdiffv1.QueryClient) {
	t.Helper()
	e := openEngine(t, t.TempDir(), clk, opts)
	t.Cleanup(func() { e.Close() })
	seedShop(t, e, clk, n)
	return e, serveQuery(t, e)
}

// /time where only noise differs, /products where nothing differs.
func seedShop(t *testing.T, e *Engine, clk *clock, n int) {
	t.Helper()
	for i := range n {
		clk.Add(time.Millisecond)
		var ds []*shadowdiffv1.ResponseDigest
		for r, role := range []shadowdiffv1.Role{primary, secondary, candidate} {
			total := "10.5"
			if role == candidate {
				total = "10.50"
			}
			stamp := f{"meta.at", tStr, sTime, fmt.Sprint(i, "-", r)}
			ds = append(ds,
				at(clk, withHeaders(dg(fmt.Sprint("o", i), role, fmt.Sprint("/orders/", 1000+i), 200, f{"order.total", tStr, sText, total}, f{"order.sku", tStr, sText, "A"}, stamp), "date", fmt.Sprint(i, r))),
				at(clk, withHeaders(dg(fmt.Sprint("t", i), role, "/time", 200, f{"now", tStr, sTime, fmt.Sprint(i, "-", r)}), "date", fmt.Sprint(i, r))),
				at(clk, dg(fmt.Sprint("p", i), role, "/products", 200, f{"[].name", tStr, sText, "chair"})))
		}
		ingest(t, e, ds...)
	}
}

func wantCode(t *testing.T, what string, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Errorf("%s: %v, want %v", what, err, code)
	}
}

func TestQueryOverGRPC(t *testing.T) {
	clk := newClock()
	_, c := servedShop(t, clk, Options{MinSamples: 100, SamplesPerField: 5}, 150)
	ctx := context.Background()

	eps, err := c.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, s := range eps.Endpoints {
		order = append(order, fmt.Sprintf("%s=%v/%v", s.Endpoint, s.Verdict, s.Rating))
	}
	want := "[GET /orders/{id}=VERDICT_REGRESSION/RATING_POOR GET /products=VERDICT_CLEAN/RATING_PERFECT GET /time=VERDICT_CLEAN/RATING_PERFECT]"
	if fmt.Sprint(order) != want {
		t.Errorf("endpoints = %v\nwant        %s", order, want)
	}
	if tot := eps.Totals; tot.Requests != 450 || tot.Compared != 450 {
		t.Errorf("totals = %v", tot)
	}

	fields, err := c.ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: "GET /orders/{id}"})
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]*shadowdiffv1.FieldStats{}
	for _, fs := range fields.Fields {
		byPath[fs.Path] = fs
	}
	if fs := byPath["body.order.total"]; fs == nil || !fs.Significant || fs.Definite != 150 || !fs.DiffyReported || fields.Fields[0] != fs {
		t.Errorf("order.total = %v (first field %v)", fs, fields.Fields[0].Path)
	}
	if fs := byPath["body.meta.at"]; fs == nil || fs.Significant || fs.NoiseClass != shadowdiffv1.NoiseClass_NOISE_CLASS_ALWAYS {
		t.Errorf("meta.at = %v", fs)
	}
	if fs := byPath["body.order.sku"]; fs == nil || fs.RawDifferences != 0 || fs.NoiseClass != shadowdiffv1.NoiseClass_NOISE_CLASS_NEVER {
		t.Errorf("order.sku = %v", fs)
	}

	// Samples: newest first, paged, path prefix and definite evidence.
	page1, err := c.ListSamples(ctx, &shadowdiffv1.ListSamplesRequest{Endpoint: "GET /orders/{id}", Path: "body.order", DefiniteOnly: true, Limit: 3})
	if err != nil || len(page1.Samples) != 3 || page1.NextPageToken == "" {
		t.Fatalf("samples page 1 = %d, token %q, %v", len(page1.GetSamples()), page1.GetNextPageToken(), err)
	}
	if s := page1.Samples[0]; s.Primary == nil || s.Secondary == nil || s.Candidate == nil || len(s.Candidate.Body.Fields) != 3 {
		t.Errorf("sample lacks full digests: %v", s)
	}
	page2, err := c.ListSamples(ctx, &shadowdiffv1.ListSamplesRequest{Endpoint: "GET /orders/{id}", Path: "body.order", DefiniteOnly: true, Limit: 3, PageToken: page1.NextPageToken})
	if err != nil || len(page2.Samples) != 2 || page2.NextPageToken != "" {
		t.Fatalf("samples page 2 = %d, token %q, %v (5 definite samples kept)", len(page2.GetSamples()), page2.GetNextPageToken(), err)
	}
	if !page1.Samples[2].Time.AsTime().After(page2.Samples[0].Time.AsTime()) {
		t.Error("pages are not newest first")
	}

	rec, err := c.GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: "o7"})
	if err != nil || rec.Endpoint != "GET /orders/{id}" || rec.NotComparedReason != "" {
		t.Fatalf("GetRequest = %v %v", rec, err)
	}
	var rawTotal *shadowdiffv1.FieldDifference
	for _, d := range rec.Differences {
		if d.Path == "body.order.total" && d.Comparison == shadowdiffv1.Comparison_COMPARISON_RAW {
			rawTotal = d
		}
	}
	if rawTotal == nil || !rawTotal.Definite || rawTotal.Noise || rawTotal.Kind != shadowdiffv1.DiffKind_DIFF_KIND_VALUE {
		t.Errorf("difference on order.total = %v", rawTotal)
	}

	// Invalid input and unknown names.
	_, err = c.ListFields(ctx, &shadowdiffv1.ListFieldsRequest{})
	wantCode(t, "ListFields without endpoint", err, codes.InvalidArgument)
	_, err = c.ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: "GET /nope"})
	wantCode(t, "ListFields unknown", err, codes.NotFound)
	_, err = c.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{Range: &shadowdiffv1.TimeRange{Start: timestamppb.New(clk.Now()), End: timestamppb.New(clk.Now().Add(-time.Hour))}})
	wantCode(t, "inverted range", err, codes.InvalidArgument)
	_, err = c.ListSamples(ctx, &shadowdiffv1.ListSamplesRequest{Endpoint: "GET /orders/{id}", PageToken: "garbage"})
	wantCode(t, "bad page token", err, codes.InvalidArgument)
	_, err = c.ListSamples(ctx, &shadowdiffv1.ListSamplesRequest{Endpoint: "GET /orders/{id}", Limit: 5000})
	wantCode(t, "huge limit", err, codes.InvalidArgument)
	_, err = c.ListSamples(ctx, &shadowdiffv1.ListSamplesRequest{Endpoint: "GET /orders/{id}", Path: "bogus"})
	wantCode(t, "samples of a path that is not a query path", err, codes.InvalidArgument)
	_, err = c.GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: "missing"})
	wantCode(t, "GetRequest unknown", err, codes.NotFound)
	_, err = c.GetRequest(ctx, &shadowdiffv1.GetRequestRequest{})
	wantCode(t, "GetRequest empty", err, codes.InvalidArgument)

	// A range that ended before the traffic holds nothing.
	old, err := c.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{Range: &shadowdiffv1.TimeRange{End: timestamppb.New(time.Unix(1_000_000_000, 0))}})
	if err != nil || len(old.Endpoints) != 0 {
		t.Errorf("old range = %v %v", old, err)
	}
	recent, err := c.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{Range: &shadowdiffv1.TimeRange{Start: timestamppb.New(clk.Now().Add(-time.Hour))}})
	if err != nil || len(recent.Endpoints) != 3 {
		t.Errorf("recent range = %d endpoints, %v", len(recent.GetEndpoints()), err)
	}
}

func TestQueryNoiseRulesApplyToStoredResults(t *testing.T) {
	clk := newClock()
	e, c := servedShop(t, clk, Options{MinSamples: 100}, 120)
	ctx := context.Background()
	const ep = "GET /orders/{id}"
	// The overview (cached between queries) follows the rules too.
	overview := func(step string, want shadowdiffv1.Verdict) {
		t.Helper()
		if got := endpointsOf(t, e)[ep].GetVerdict(); got != want {
			t.Errorf("%s: ListEndpoints verdict %v, want %v", step, got, want)
		}
	}
	overview("before the rule", shadowdiffv1.Verdict_VERDICT_REGRESSION)

	list, err := c.ListNoiseRules(ctx, &shadowdiffv1.ListNoiseRulesRequest{Endpoint: ep})
	if err != nil {
		t.Fatal(err)
	}
	var suggested []string
	for _, s := range list.Suggested {
		suggested = append(suggested, s.Rule.PathPrefix)
	}
	if fmt.Sprint(suggested) != "[body.meta.at headers.date]" {
		t.Errorf("suggested = %v, want the always-noisy timestamp and date", suggested)
	}

	for _, bad := range []*shadowdiffv1.NoiseRule{nil, {}, {PathPrefix: "order.total"}, {PathPrefix: "headers."},
		{PathPrefix: "body..x"}, {PathPrefix: "body.a."}, {PathPrefix: "body.a.[]"}} {
		_, err := c.CreateNoiseRule(ctx, &shadowdiffv1.CreateNoiseRuleRequest{Rule: bad})
		wantCode(t, fmt.Sprintf("rule %v", bad), err, codes.InvalidArgument)
	}
	rule, err := c.CreateNoiseRule(ctx, &shadowdiffv1.CreateNoiseRuleRequest{Rule: &shadowdiffv1.NoiseRule{Endpoint: ep, PathPrefix: "body.order", Comment: "rounding is fine"}})
	if err != nil || rule.Id == "" || rule.Created == nil {
		t.Fatalf("create rule = %v %v", rule, err)
	}
	_, err = c.CreateNoiseRule(ctx, &shadowdiffv1.CreateNoiseRuleRequest{Rule: &shadowdiffv1.NoiseRule{Endpoint: ep, PathPrefix: "body.order"}})
	wantCode(t, "the same rule again", err, codes.AlreadyExists)
	if _, err := c.CreateNoiseRule(ctx, &shadowdiffv1.CreateNoiseRuleRequest{Rule: &shadowdiffv1.NoiseRule{PathPrefix: `body.a\..b`}}); err != nil {
		t.Errorf("a rule for member \"a.\"'s child b: %v", err)
	}
	overview("with the rule", shadowdiffv1.Verdict_VERDICT_CLEAN)
	fields, err := c.ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: ep})
	if err != nil {
		t.Fatal(err)
	}
	if fields.Endpoint.Verdict != shadowdiffv1.Verdict_VERDICT_CLEAN || fields.Endpoint.RegressionDifferent != 0 {
		t.Errorf("with the rule: %v", fields.Endpoint)
	}
	for _, fs := range fields.Fields {
		if fs.Path == "body.order.total" {
			t.Errorf("suppressed field listed without include_noise")
		}
	}
	all, _ := c.ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: ep, IncludeNoise: true})
	var found bool
	for _, fs := range all.GetFields() {
		if fs.Path == "body.order.total" {
			found = fs.SuppressedByRule == rule.Id && !fs.Significant
		}
	}
	if !found {
		t.Errorf("include_noise does not show body.order.total suppressed by %s", rule.Id)
	}
	rec, _ := c.GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: "o3"})
	for _, d := range rec.GetDifferences() {
		if d.Path == "body.order.total" && !d.Noise {
			t.Errorf("stored difference not marked as noise by the new rule: %v", d)
		}
	}

	if _, err := c.DeleteNoiseRule(ctx, &shadowdiffv1.DeleteNoiseRuleRequest{Id: rule.Id}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteNoiseRule(ctx, &shadowdiffv1.DeleteNoiseRuleRequest{Id: rule.Id})
	wantCode(t, "delete twice", err, codes.NotFound)
	_, err = c.DeleteNoiseRule(ctx, &shadowdiffv1.DeleteNoiseRuleRequest{})
	wantCode(t, "delete without id", err, codes.InvalidArgument)
	fields, _ = c.ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: ep})
	if fields.GetEndpoint().GetVerdict() != shadowdiffv1.Verdict_VERDICT_REGRESSION {
		t.Errorf("verdict after deleting the rule = %v", fields.GetEndpoint().GetVerdict())
	}
	overview("after deleting the rule", shadowdiffv1.Verdict_VERDICT_REGRESSION)
}

func TestQueryEndpointRulesAndClear(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	c := serveQuery(t, e)
	ctx := context.Background()
	_, err := c.CreateEndpointRule(ctx, &shadowdiffv1.CreateEndpointRuleRequest{Rule: &shadowdiffv1.EndpointRule{PathPattern: "no-slash", Endpoint: "x"}})
	wantCode(t, "bad endpoint rule", err, codes.InvalidArgument)
	rule, err := c.CreateEndpointRule(ctx, &shadowdiffv1.CreateEndpointRuleRequest{Rule: &shadowdiffv1.EndpointRule{Method: "get", PathPattern: "/users/{name}", Endpoint: "GET /users/{name}"}})
	if err != nil || rule.Method != "GET" {
		t.Fatalf("create endpoint rule = %v %v", rule, err)
	}
	ingest(t, e, at(clk, dg("u1", primary, "/users/alice", 200)), at(clk, dg("u1", candidate, "/users/alice", 200)),
		at(clk, dg("u2", primary, "/users/bob", 200)), at(clk, dg("u2", candidate, "/users/bob", 200)),
		at(clk, dg("x1", primary, "/other/12", 200)), at(clk, dg("x1", candidate, "/other/12", 200)))
	eps := endpointsOf(t, e)
	if eps["GET /users/{name}"].GetCompared() != 2 || eps["GET /users/{name}"].PathTemplate != "/users/{name}" || eps["GET /other/{id}"].GetCompared() != 1 {
		t.Errorf("endpoints = %v", eps)
	}
	rules, err := c.ListEndpointRules(ctx, &shadowdiffv1.ListEndpointRulesRequest{})
	if err != nil || len(rules.Rules) != 1 {
		t.Errorf("endpoint rules = %v %v", rules, err)
	}

	_, err = c.Clear(ctx, &shadowdiffv1.ClearRequest{Endpoint: "GET /nope"})
	wantCode(t, "clear unknown", err, codes.NotFound)
	cl, err := c.Clear(ctx, &shadowdiffv1.ClearRequest{Endpoint: "GET /users/{name}"})
	if err != nil || cl.RequestsDeleted != 2 {
		t.Fatalf("clear = %v %v", cl, err)
	}
	_, err = c.ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: "GET /users/{name}"})
	wantCode(t, "fields of cleared endpoint", err, codes.NotFound)
	_, err = c.GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: "u1"})
	wantCode(t, "request of cleared endpoint", err, codes.NotFound)
	if _, err := c.GetRequest(ctx, &shadowdiffv1.GetRequestRequest{PairingKey: "x1"}); err != nil {
		t.Errorf("other endpoint's request: %v", err)
	}

	if _, err := c.DeleteEndpointRule(ctx, &shadowdiffv1.DeleteEndpointRuleRequest{Id: rule.Id}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteEndpointRule(ctx, &shadowdiffv1.DeleteEndpointRuleRequest{Id: rule.Id})
	wantCode(t, "delete endpoint rule twice", err, codes.NotFound)
	ingest(t, e, at(clk, dg("u3", primary, "/users/carol", 200)), at(clk, dg("u3", candidate, "/users/carol", 200)))
	if eps := endpointsOf(t, e); eps["GET /users/carol"].GetCompared() != 1 {
		t.Errorf("after deleting the rule, templating applies: %v", eps)
	}
	cl, err = c.Clear(ctx, &shadowdiffv1.ClearRequest{})
	if err != nil || cl.RequestsDeleted != 2 || len(endpointsOf(t, e)) != 0 {
		t.Errorf("clear all = %v %v", cl, err)
	}
}

func TestQueryWatchRegressions(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{MinSamples: 50, PairWindow: 200 * time.Millisecond})
	defer e.Close()
	c := serveQuery(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := c.WatchRegressions(ctx, &shadowdiffv1.WatchRegressionsRequest{Endpoint: "GET /orders/{id}"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil { // the server has subscribed
		t.Fatal(err)
	}
	seedShop(t, e, clk, 60)
	ev, err := stream.Recv()
	if err != nil {
		t.Fatalf("no regression event: %v", err)
	}
	if ev.Endpoint != "GET /orders/{id}" || ev.Field.GetPath() != "body.order.total" || !ev.Field.Significant {
		t.Errorf("event = %v", ev)
	}
}

// A minimum sample size below what the always-valid test needs to reject
// anything must not let an endpoint whose field differed definitely in
// every request be called CLEAN: it stays INSUFFICIENT_DATA, and says why,
// until the test can decide.
func TestQueryVerdictWaitsUntilTheTestCanDecide(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{MinSamples: 5})
	defer e.Close()
	c := serveQuery(t, e)
	ctx := context.Background()
	seedShop(t, e, clk, 30)
	for ep, s := range endpointsOf(t, e) {
		if s.Verdict != shadowdiffv1.Verdict_VERDICT_INSUFFICIENT_DATA || s.AttainablePValue <= s.SignificanceLevel ||
			s.SignificanceLevel != 0.01 || !strings.Contains(s.VerdictReason, "even a field differing in every one") {
			t.Errorf("%s after 30 requests: %v (attainable p %g, level %g): %s", ep, s.Verdict, s.AttainablePValue, s.SignificanceLevel, s.VerdictReason)
		}
	}
	fields, err := c.ListFields(ctx, &shadowdiffv1.ListFieldsRequest{Endpoint: "GET /orders/{id}"})
	if err != nil {
		t.Fatal(err)
	}
	for _, fs := range fields.Fields {
		if fs.Path == "body.order.total" && (fs.Definite != 30 || fs.Significant || !strings.Contains(fs.Reason, "needs more compared requests")) {
			t.Errorf("body.order.total after 30 definite differences: %v", fs)
		}
	}

	seedShop(t, e, clk, 50)
	want := map[string]shadowdiffv1.Verdict{
		"GET /orders/{id}": shadowdiffv1.Verdict_VERDICT_REGRESSION,
		"GET /time":        shadowdiffv1.Verdict_VERDICT_CLEAN,
		"GET /products":    shadowdiffv1.Verdict_VERDICT_CLEAN,
	}
	for ep, s := range endpointsOf(t, e) {
		if s.Verdict != want[ep] || s.AttainablePValue > s.SignificanceLevel || s.VerdictReason == "" {
			t.Errorf("%s after 80 requests: %v, want %v (attainable p %g): %s", ep, s.Verdict, want[ep], s.AttainablePValue, s.VerdictReason)
		}
	}
}

// A field noisy in 437 of 439 requests is suggested as "99.5 %", not
// rounded up to "100 %".
func TestSuggestedRuleShareIsNotRoundedUpToAll(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{MinSamples: 100})
	defer e.Close()
	var ds []*shadowdiffv1.ResponseDigest
	for i := range 439 {
		clk.Add(time.Millisecond)
		for r, role := range []shadowdiffv1.Role{primary, secondary, candidate} {
			stamp := fmt.Sprint(i, "-", r)
			if i < 2 {
				stamp = "same" // the two copies agree in 2 requests
			}
			ds = append(ds, at(clk, dg(fmt.Sprint("n", i), role, "/noisy", 200, f{"at", tStr, sTime, stamp})))
		}
	}
	ingest(t, e, ds...)
	list, err := e.QueryServer().ListNoiseRules(context.Background(), &shadowdiffv1.ListNoiseRulesRequest{Endpoint: "GET /noisy"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Suggested) != 1 || list.Suggested[0].Reason != "differs between primary and secondary in 99.5 % of 439 requests" {
		t.Errorf("suggested = %v", list.Suggested)
	}
}

func TestShareOf(t *testing.T) {
	for _, tc := range []struct {
		n, total uint64
		want     string
	}{
		{240, 240, "100 %"}, {437, 439, "99.5 %"}, {9999, 10000, "99.9 %"}, {1, 2, "50 %"},
		{1, 3, "33.3 %"}, {2, 3, "66.6 %"}, {1, 10000, "< 0.1 %"}, {0, 5, "0 %"}, {0, 0, "0 %"},
	} {
		if got := shareOf(tc.n, tc.total); got != tc.want {
			t.Errorf("shareOf(%d, %d) = %q, want %q", tc.n, tc.total, got, tc.want)
		}
	}
}

// A field always noisy on every endpoint that has it is suggested once, for
// all endpoints; one noisy on some endpoints only keeps per-endpoint
// suggestions, so that a global rule cannot hide it where it is real.
func TestSuggestionsMergeAcrossEndpoints(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{MinSamples: 100})
	defer e.Close()
	var ds []*shadowdiffv1.ResponseDigest
	for i := range 30 {
		clk.Add(time.Millisecond)
		for r, role := range []shadowdiffv1.Role{primary, secondary, candidate} {
			noisy := fmt.Sprint(i, "-", r)
			for _, path := range []string{"/a", "/b", "/c"} {
				stamp := noisy
				if path == "/c" {
					stamp = "stable" // "at" is real data on /c
				}
				// "trace" is noisy everywhere, "at" on /a and /b only.
				ds = append(ds, at(clk, dg(fmt.Sprint(path, i), role, path, 200, f{"at", tStr, sTime, stamp}, f{"trace", tStr, sText, noisy})))
			}
		}
	}
	ingest(t, e, ds...)
	if got, want := suggestedRules(t, e), "[*|body.trace GET /a|body.at GET /b|body.at]"; got != want {
		t.Errorf("suggested = %v, want %s", got, want)
	}
}

// suggestedRules lists the suggested noise rules of every endpoint as
// "ENDPOINT|PATH" ("*" for all endpoints), in the API's order.
func suggestedRules(t *testing.T, e *Engine) string {
	t.Helper()
	list, err := e.QueryServer().ListNoiseRules(context.Background(), &shadowdiffv1.ListNoiseRulesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range list.Suggested {
		ep := s.Rule.Endpoint
		if ep == "" {
			ep = "*"
		}
		got = append(got, ep+"|"+s.Rule.PathPrefix)
	}
	return fmt.Sprint(got)
}

// A field an endpoint has without suggesting it (here: compared without a
// secondary, too few noise observations) keeps the suggestions per
// endpoint: a global rule would hide it on that endpoint.
func TestSuggestionsNotMergedOverAnEndpointThatDoesNotSuggest(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{MinSamples: 100})
	defer e.Close()
	var ds []*shadowdiffv1.ResponseDigest
	for i := range 30 {
		clk.Add(time.Millisecond)
		for r, role := range []shadowdiffv1.Role{primary, secondary, candidate} {
			noisy := fmt.Sprint(i, "-", r)
			for _, path := range []string{"/a", "/b"} {
				ds = append(ds, at(clk, dg(fmt.Sprint(path, i), role, path, 200, f{"trace", tStr, sText, noisy})))
			}
			if role != secondary && i < 15 { // /d: no secondary, a real difference
				ds = append(ds, at(clk, dg(fmt.Sprint("/d", i), role, "/d", 200, f{"trace", tStr, sText, noisy})))
			}
		}
	}
	ingest(t, e, ds...)
	if got, want := suggestedRules(t, e), "[GET /a|body.trace GET /b|body.trace]"; got != want {
		t.Errorf("suggested = %v, want %s", got, want)
	}
}
