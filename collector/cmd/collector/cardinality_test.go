package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/shadowdiff/shadowdiff/collector/internal/testlog"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// traffic sends requests to a collector over an Ingest stream, as the
// filters do: the three roles of each request in one batch, so that it is
// compared (and counted under its endpoint) as the batch is acknowledged.
type traffic struct {
	t      *testing.T
	stream grpc.BidiStreamingClient[shadowdiffv1.DigestBatch, shadowdiffv1.DigestAck]
	seq    uint64
	n      int
}

func newTraffic(t *testing.T, ctx context.Context, conn *grpc.ClientConn) *traffic {
	t.Helper()
	stream, err := shadowdiffv1.NewCollectorClient(conn).Ingest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &traffic{t: t, stream: stream}
}

// send sends one request per path and waits for the acknowledgement.
func (tr *traffic) send(method string, paths ...string) {
	tr.t.Helper()
	batch := &shadowdiffv1.DigestBatch{}
	for _, p := range paths {
		tr.n++
		key := fmt.Sprintf("card-%d-%d", time.Now().UnixNano(), tr.n) // unique across restarts too
		for _, r := range []shadowdiffv1.Role{shadowdiffv1.Role_ROLE_PRIMARY, shadowdiffv1.Role_ROLE_SECONDARY, shadowdiffv1.Role_ROLE_CANDIDATE} {
			batch.Digests = append(batch.Digests, &shadowdiffv1.ResponseDigest{
				PairingKey: key, Role: r, Status: 200,
				Shadow:   r != shadowdiffv1.Role_ROLE_PRIMARY,
				Endpoint: &shadowdiffv1.EndpointRef{Method: method, Path: p},
				Request:  &shadowdiffv1.RequestFingerprint{Method: method, Path: p},
			})
		}
	}
	tr.seq++
	batch.Sequence = tr.seq
	if err := tr.stream.Send(batch); err != nil {
		tr.t.Fatalf("send: %v", err)
	}
	ack, err := tr.stream.Recv()
	if err != nil || int(ack.GetAccepted()) != len(batch.Digests) {
		tr.t.Fatalf("ack = %v, %v; want %d accepted", ack, err, len(batch.Digests))
	}
}

// requests returns the requests counted per endpoint.
func requests(t *testing.T, ctx context.Context, q shadowdiffv1.QueryClient) map[string]uint64 {
	t.Helper()
	resp, err := q.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, e := range resp.GetEndpoints() {
		out[e.GetEndpoint()] = e.GetRequests()
	}
	return out
}

func endpointRules(t *testing.T, ctx context.Context, q shadowdiffv1.QueryClient) []*shadowdiffv1.EndpointRule {
	t.Helper()
	resp, err := q.ListEndpointRules(ctx, &shadowdiffv1.ListEndpointRulesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetRules()
}

// waitRules polls the rules until there are n: a learned rule is in force
// at once and stored by the engine's loop right after.
func waitRules(t *testing.T, ctx context.Context, q shadowdiffv1.QueryClient, n int) []*shadowdiffv1.EndpointRule {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rules := endpointRules(t, ctx, q)
		if len(rules) == n || time.Now().After(deadline) {
			return rules
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metric reads a metric without labels from /metrics.
func metric(t *testing.T, httpAddr, name string) string {
	t.Helper()
	_, body := get(t, "http://"+httpAddr+"/metrics")
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return "<none>"
}

func slugs(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("/shop/products/%s-%d", prefix, i))
	}
	return out
}

// A path segment that takes more distinct values than
// --auto-template-threshold becomes a learned endpoint rule: in force for
// the request that crossed it, listed, logged once, kept across a
// restart; deleted, it is not learned again, restart or not.
func TestLearnedEndpointRule(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logs := &testlog.Buffer{}
	log := logs.Logger()
	args := []string{"--data-dir", dir, "--auto-template-threshold", "5"}

	a, stop := startLogged(t, log, args...)
	conn := dial(t, a.grpc.String())
	q := shadowdiffv1.NewQueryClient(conn)
	tr := newTraffic(t, ctx, conn)
	tr.send("GET", slugs("p", 5)...)
	if rules := endpointRules(t, ctx, q); len(rules) != 0 {
		t.Fatalf("rules after 5 distinct slugs (the threshold) = %v, want none", rules)
	}
	tr.send("GET", "/shop/products/p-5")
	rules := waitRules(t, ctx, q, 1)
	if len(rules) != 1 {
		t.Fatalf("rules after 6 distinct slugs = %v, want the learned one", rules)
	}
	learned := rules[0]
	if !learned.Learned || learned.Method != "GET" || learned.PathPattern != "/shop/products/{slug}" || learned.Endpoint != "GET /shop/products/{slug}" || learned.Id == "" || learned.Created == nil {
		t.Errorf("learned rule = %v", learned)
	}
	tr.send("GET", "/shop/products/p-6", "/shop/products/p-0")
	got := requests(t, ctx, q)
	// The request that crossed the threshold is named by the rule; the
	// slug endpoints counted before keep their results.
	if got["GET /shop/products/{slug}"] != 3 || got["GET /shop/products/p-0"] != 1 || got["GET /shop/products/p-4"] != 1 || got["GET /shop/products/p-5"] != 0 {
		t.Errorf("requests per endpoint = %v", got)
	}
	if l := logs.Records(t, "endpoint rule learned"); len(l) != 1 || l[0]["path_pattern"] != "/shop/products/{slug}" || l[0]["id"] != learned.Id {
		t.Errorf("learned-rule log lines = %v, want one", l)
	}
	if v := metric(t, a.http.String(), "shadowdiff_collector_endpoint_rules_learned_total"); v != "1" {
		t.Errorf("shadowdiff_collector_endpoint_rules_learned_total = %s, want 1", v)
	}
	conn.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// After a restart the rule names new requests at once.
	a, stop = startLogged(t, log, args...)
	conn = dial(t, a.grpc.String())
	q = shadowdiffv1.NewQueryClient(conn)
	tr = newTraffic(t, ctx, conn)
	if rules := endpointRules(t, ctx, q); len(rules) != 1 || rules[0].Id != learned.Id || !rules[0].Learned {
		t.Fatalf("rules after a restart = %v, want %v", rules, learned)
	}
	tr.send("GET", "/shop/products/new-arrival")
	if got := requests(t, ctx, q); got["GET /shop/products/{slug}"] != 4 || got["GET /shop/products/new-arrival"] != 0 {
		t.Errorf("after a restart: requests per endpoint = %v", got)
	}
	if _, err := q.DeleteEndpointRule(ctx, &shadowdiffv1.DeleteEndpointRuleRequest{Id: learned.Id}); err != nil {
		t.Fatal(err)
	}
	// Deleted, the rule is not learned again: slugs are endpoints again.
	tr.send("GET", slugs("q", 10)...)
	if got := requests(t, ctx, q); got["GET /shop/products/q-9"] != 1 || got["GET /shop/products/{slug}"] != 4 {
		t.Errorf("after deleting the learned rule: requests per endpoint = %v", got)
	}
	conn.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	a, _ = startLogged(t, log, args...)
	conn = dial(t, a.grpc.String())
	defer conn.Close()
	q = shadowdiffv1.NewQueryClient(conn)
	newTraffic(t, ctx, conn).send("GET", slugs("r", 10)...)
	if got := requests(t, ctx, q); got["GET /shop/products/r-9"] != 1 || got["GET /shop/products/{slug}"] != 4 {
		t.Errorf("after deleting the learned rule and a restart: requests per endpoint = %v", got)
	}
	if rules := endpointRules(t, ctx, q); len(rules) != 0 {
		t.Errorf("a deleted learned rule came back: %v", rules)
	}
	if l := logs.Records(t, "endpoint rule learned"); len(l) != 1 {
		t.Errorf("learned-rule log lines = %d, want 1 in all", len(l))
	}
}

// scannerPath is a path as vulnerability scanners send them: nothing in
// it repeats, so nothing is learned.
func scannerPath(rng *rand.Rand) string {
	switch rng.IntN(3) {
	case 0:
		return fmt.Sprintf("/.env.%x", rng.Uint32())
	case 1:
		return fmt.Sprintf("/%x/%x.php", rng.Uint32(), rng.Uint32())
	}
	return fmt.Sprintf("/wp-%x/admin-%x", rng.Uint32(), rng.Uint32())
}

// Past --max-endpoints a request that would open a new endpoint is
// counted under its method's overflow endpoint, counted in a metric and
// logged at most once a minute; known endpoints and rules' endpoints keep
// their names.
func TestEndpointCapOverflow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logs := &testlog.Buffer{}
	a, _ := startLogged(t, logs.Logger(), "--max-endpoints", "10")
	conn := dial(t, a.grpc.String())
	defer conn.Close()
	q := shadowdiffv1.NewQueryClient(conn)
	tr := newTraffic(t, ctx, conn)
	var known []string
	for i := range 10 {
		known = append(known, fmt.Sprintf("/page-%d", i))
	}
	tr.send("GET", known...)
	rng := rand.New(rand.NewPCG(1, 2))
	var scans []string
	for range 300 {
		scans = append(scans, scannerPath(rng))
	}
	tr.send("GET", scans...)
	tr.send("POST", scannerPath(rng), scannerPath(rng))
	tr.send("PROPFIND", scannerPath(rng))
	tr.send("GET", "/page-3")
	rule, err := q.CreateEndpointRule(ctx, &shadowdiffv1.CreateEndpointRuleRequest{Rule: &shadowdiffv1.EndpointRule{
		Method: "GET", PathPattern: "/{name}/{file}", Endpoint: "GET scanned files", Learned: true}})
	if err != nil || rule.Learned {
		t.Fatalf("a user's rule = %v, %v; want it created, not as learned", rule, err)
	}
	tr.send("GET", "/abc/def.php")

	got := requests(t, ctx, q)
	want := map[string]uint64{"GET {other}": 300, "POST {other}": 2, "* {other}": 1, "GET scanned files": 1, "GET /page-3": 2, "GET /page-0": 1}
	for ep, n := range want {
		if got[ep] != n {
			t.Errorf("%s: %d requests, want %d", ep, got[ep], n)
		}
	}
	if len(got) != 10+3+1 {
		t.Errorf("%d endpoints, want the 10 of the cap, 3 overflow and 1 of a rule: %v", len(got), got)
	}
	// Unrelated paths together are never judged: the overflow endpoint's
	// 300 identical responses would otherwise make it CLEAN.
	list, err := q.ListEndpoints(ctx, &shadowdiffv1.ListEndpointsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list.GetEndpoints() {
		overflow := strings.HasSuffix(e.GetEndpoint(), " {other}")
		if e.GetOverflow() != overflow {
			t.Errorf("%s: overflow = %v", e.GetEndpoint(), e.GetOverflow())
		}
		if overflow && (e.GetVerdict() != shadowdiffv1.Verdict_VERDICT_INSUFFICIENT_DATA || !strings.Contains(e.GetVerdictReason(), "--max-endpoints")) {
			t.Errorf("%s: verdict %v (%s), want INSUFFICIENT_DATA naming --max-endpoints", e.GetEndpoint(), e.GetVerdict(), e.GetVerdictReason())
		}
	}
	if v := metric(t, a.http.String(), "shadowdiff_collector_endpoint_overflow_requests_total"); v != "303" {
		t.Errorf("shadowdiff_collector_endpoint_overflow_requests_total = %s, want 303", v)
	}
	if v := metric(t, a.http.String(), "shadowdiff_collector_endpoints"); v != "14" {
		t.Errorf("shadowdiff_collector_endpoints = %s, want 14", v)
	}
	warnings := logs.Records(t, "endpoint limit reached")
	if len(warnings) != 1 || warnings[0]["max_endpoints"] != 10.0 || !strings.Contains(fmt.Sprint(warnings[0]["hint"]), "--max-endpoints") ||
		!strings.Contains(fmt.Sprint(warnings[0]["hint"]), "endpoint rules") {
		t.Errorf("overflow warnings = %v, want one naming --max-endpoints and endpoint rules", warnings)
	}
}
