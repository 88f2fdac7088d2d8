package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shadowdiff/shadowdiff/collector/internal/testlog"
	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// keyOf names the endpoint of a request to method and path.
func keyOf(m *endpointMapper, method, path string) string {
	return m.of(&shadowdiffv1.ResponseDigest{Endpoint: &shadowdiffv1.EndpointRef{Method: method, Path: path}}).key
}

func TestLearnedParameter(t *testing.T) {
	learned := 0
	m := newEndpointMapper(mapperConfig{learnThreshold: 3, learned: func() { learned++ }}, newAggregates())
	for _, name := range []string{"alice", "bob", "carol"} {
		if got, want := keyOf(m, "GET", "/users/"+name+"/orders/7"), "GET /users/"+name+"/orders/{id}"; got != want {
			t.Errorf("%s before the threshold: %q, want %q", name, got, want)
		}
	}
	if learned != 0 || len(m.unsaved) != 0 {
		t.Fatalf("learned at the threshold: %d, %v", learned, m.unsaved)
	}
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/users/dave/orders/8", "GET /users/{slug}/orders/{id}"},  // past it: the request that crossed
		{"GET", "/users/alice/orders/7", "GET /users/{slug}/orders/{id}"}, // cached before: the cache is dropped
		{"get", "/users/erin/orders/x", "GET /users/erin/orders/x"},       // the learned "{id}" matches ids only
		{"GET", "/users/42/orders/8", "GET /users/{id}/orders/{id}"},      // and its "{slug}" no ids
		{"POST", "/users/alice/orders/7", "POST /users/alice/orders/{id}"},
		{"GET", "/users/alice/orders", "GET /users/alice/orders"},
	} {
		if got := keyOf(m, c.method, c.path); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.method, c.path, got, c.want)
		}
	}
	if learned != 1 || len(m.unsaved) != 1 {
		t.Fatalf("learned %d rules, unsaved %v; want 1", learned, m.unsaved)
	}
	if r := m.unsaved[0].rule; !r.Learned || r.Method != "GET" || r.PathPattern != "/users/{slug}/orders/{id}" || r.Endpoint != "GET /users/{slug}/orders/{id}" {
		t.Errorf("learned rule = %v", r)
	}
	// Stored, it keeps its place; a reload keeps the unsaved ones.
	m.setRules(nil, nil)
	if got := keyOf(m, "GET", "/users/frank/orders/9"); got != "GET /users/{slug}/orders/{id}" {
		t.Errorf("after a reload with the rule unsaved: %q", got)
	}
	stored := &shadowdiffv1.EndpointRule{Id: "er-1", Method: "GET", PathPattern: "/users/{slug}/orders/{id}", Endpoint: "GET /users/{slug}/orders/{id}", Learned: true}
	m.saved(m.takeUnsaved()[0], stored)
	if len(m.unsaved) != 0 || m.rules[0].rule != stored {
		t.Errorf("saved: unsaved %v, rules %v", m.unsaved, m.rules)
	}
	// A user's rule as specific as the learned one wins, even without a
	// method: it is how a user corrects a learned name.
	user, err := parseEndpointRule(&shadowdiffv1.EndpointRule{Id: "er-2", PathPattern: "/users/{name}/orders/{order}", Endpoint: "orders of a user"})
	if err != nil {
		t.Fatal(err)
	}
	learnedRule, err := parseEndpointRule(stored)
	if err != nil {
		t.Fatal(err)
	}
	m.setRules([]*endpointRule{learnedRule, user}, nil)
	if got := keyOf(m, "GET", "/users/grace/orders/10"); got != "orders of a user" {
		t.Errorf("a user's rule after a learned one: %q, want it to win", got)
	}
}

// Segments that are not parameters: a pattern without a literal segment
// would merge every path of its length, braces and "**" would make a
// broken pattern, and a deleted learned rule stays deleted.
func TestNotLearned(t *testing.T) {
	m := newEndpointMapper(mapperConfig{learnThreshold: 3}, newAggregates())
	deleted := &shadowdiffv1.EndpointRule{Method: "GET", PathPattern: "/tags/{slug}", Endpoint: "GET /tags/{slug}", Learned: true}
	m.setRules(nil, []*shadowdiffv1.EndpointRule{deleted})
	for i := range 10 {
		for _, p := range []string{"/page-%d", "/%d/x-%[1]d", "/x/{y%d}", "/x/**/a%d", "/tags/t%d"} {
			path := fmt.Sprintf(p, i)
			if got := keyOf(m, "GET", path); strings.Contains(got, learnedPlaceholder) {
				t.Errorf("GET %s = %q: learned", path, got)
			}
		}
	}
	if len(m.rules) != 0 {
		t.Errorf("rules learned: %v", m.rules)
	}
	off := newEndpointMapper(mapperConfig{}, newAggregates())
	for i := range 100 {
		if got := keyOf(off, "GET", fmt.Sprintf("/p/%d-x", i)); strings.Contains(got, learnedPlaceholder) {
			t.Fatalf("learned with learning off: %q", got)
		}
	}
}

// Learning stops at maxLearnedRules, with one warning.
func TestLearnedRulesAreBounded(t *testing.T) {
	logs := &testlog.Buffer{}
	m := newEndpointMapper(mapperConfig{learnThreshold: 2, log: logs.Logger()}, newAggregates())
	for p := range maxLearnedRules + 10 {
		for v := range 3 {
			keyOf(m, "GET", fmt.Sprintf("/p%d/v%d-%d/z", p, p, v))
		}
	}
	if m.learned != maxLearnedRules || len(m.rules) != maxLearnedRules {
		t.Errorf("%d rules learned, want %d", len(m.rules), maxLearnedRules)
	}
	if got := keyOf(m, "GET", "/p205/v205-0/z"); got != "GET /p205/v205-0/z" {
		t.Errorf("past the learned rules' bound: %q", got)
	}
	if n := len(logs.Records(t, "endpoint rules: no more are learned")); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
}

// The learner's memory is bounded: one-off paths fill its groups, which
// are swept, and a slug group growing among them still crosses.
func TestLearnerIsBounded(t *testing.T) {
	l := newParamLearner(DefaultAutoTemplateThreshold)
	rng := rand.New(rand.NewPCG(3, 4))
	first := -1
	for i := range 200_000 {
		segs := []string{fmt.Sprintf("%x", rng.Uint32()), fmt.Sprintf("%x", rng.Uint32()), "x"}
		slug := i%1000 == 0
		if slug {
			segs = []string{"products", fmt.Sprintf("slug-%d", i), "reviews"}
		}
		// The mapper sends no more paths of a group with a rule; the
		// learner alone may see one cross again once swept.
		if pos := l.observe("GET", segs); pos >= 0 {
			if !slug || pos != 1 {
				t.Fatalf("%v crossed at %d", segs, pos)
			}
			if first < 0 {
				first = i
			}
		}
		if len(l.groups) > maxLearnGroups || l.values > maxLearnValues {
			t.Fatalf("after %d paths: %d groups, %d values", i, len(l.groups), l.values)
		}
	}
	if first != DefaultAutoTemplateThreshold*1000 {
		t.Errorf("the slugs crossed at path %d, want at their %dth", first, DefaultAutoTemplateThreshold+1)
	}
	// Few groups of many values each stay within the values' budget.
	l = newParamLearner(MaxAutoTemplateThreshold)
	for g := range 3000 {
		for v := range 100 {
			l.observe("GET", []string{fmt.Sprint("a", g), fmt.Sprint("v", v)})
			if l.values > maxLearnValues {
				t.Fatalf("%d values", l.values)
			}
		}
	}
}

// The cap counts endpoints with results and those of requests still
// pending; a known endpoint and a rule's keep their names past it, and
// methods outside the standard ones share one overflow endpoint.
func TestEndpointCap(t *testing.T) {
	a := newAggregates()
	m := newEndpointMapper(mapperConfig{maxEndpoints: 2}, a)
	r, err := parseEndpointRule(&shadowdiffv1.EndpointRule{PathPattern: "/rule/**", Endpoint: "by rule"})
	if err != nil {
		t.Fatal(err)
	}
	m.setRules([]*endpointRule{r}, nil)
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/a", "GET /a"},
		{"GET", "/b/1", "GET /b/{id}"},
		{"GET", "/c", "GET {other}"},
		{"HEAD", "/a", "HEAD {other}"},
		{"PROPFIND", "/x", "* {other}"},
		{"GET", "/rule/x", "by rule"},
		{"GET", "/b/2", "GET /b/{id}"},
	} {
		if got := keyOf(m, c.method, c.path); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.method, c.path, got, c.want)
		}
	}
	// Counted in aggs, they are not counted twice.
	for _, p := range []string{"/a", "/b/1"} {
		a.endpoint(m.of(&shadowdiffv1.ResponseDigest{Endpoint: &shadowdiffv1.EndpointRef{Method: "GET", Path: p}}))
	}
	m.forget()
	if got := keyOf(m, "GET", "/d"); got != "GET {other}" {
		t.Errorf("a third endpoint = %q", got)
	}
	delete(a.eps, "GET /a")
	m.forget()
	if got := keyOf(m, "GET", "/d"); got != "GET /d" {
		t.Errorf("once an endpoint left: %q", got)
	}
	if info := m.of(&shadowdiffv1.ResponseDigest{Endpoint: &shadowdiffv1.EndpointRef{Method: "GET", Path: "/e", RouteName: "r"}}); !info.overflow || info.routeName != "" {
		t.Errorf("overflow endpoint = %+v, want no route name (its requests have many)", info)
	}
}

// request ingests one compared request of GET path.
func request(t *testing.T, e *Engine, clk *clock, key, path string) {
	t.Helper()
	ingest(t, e, at(clk, dg(key, primary, path, 200, okBody()...)), at(clk, dg(key, candidate, path, 200, okBody()...)))
}

// The overflow is logged at most once a minute, with the count since.
func TestOverflowWarnedOncePerMinute(t *testing.T) {
	clk := newClock()
	logs := &testlog.Buffer{}
	e := openEngine(t, t.TempDir(), clk, Options{MaxEndpoints: 1, Logger: logs.Logger()})
	defer e.Close()
	request(t, e, clk, "k0", "/a")
	request(t, e, clk, "k1", "/b")
	request(t, e, clk, "k2", "/c")
	clk.Add(30 * time.Second)
	request(t, e, clk, "k3", "/d")
	if n := len(logs.Records(t, "endpoint limit reached")); n != 1 {
		t.Errorf("%d warnings within a minute, want 1", n)
	}
	clk.Add(31 * time.Second)
	request(t, e, clk, "k4", "/e")
	w := logs.Records(t, "endpoint limit reached")
	if len(w) != 2 || w[1]["requests_since_last_warning"] != 3.0 || w[1]["endpoint"] != "GET {other}" || w[1]["path"] != "/e" {
		t.Errorf("warnings = %v, want a second one counting 3 requests", w)
	}
	if got := counts(endpointsOf(t, e)["GET {other}"]); !strings.HasPrefix(got, "req=4 cmp=4") {
		t.Errorf("GET {other}: %s", got)
	}
}

// An endpoint named before its first request is counted (from a
// secondary that came first, or earlier in the same batch) holds its
// place: the cap is not passed by requests that complete later.
func TestEndpointCapCountsPendingRequests(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{MaxEndpoints: 2})
	defer e.Close()
	paths := []string{"/a", "/b", "/c"}
	for i, p := range paths {
		ingest(t, e, at(clk, dg(fmt.Sprint("k", i), secondary, p, 200, okBody()...)))
	}
	var batch []*shadowdiffv1.ResponseDigest
	for i, p := range paths {
		key := fmt.Sprint("k", i)
		batch = append(batch, at(clk, dg(key, primary, p, 200, okBody()...)), at(clk, dg(key, candidate, p, 200, okBody()...)))
	}
	ingest(t, e, batch...)
	eps := endpointsOf(t, e)
	if len(eps) != 3 || eps["GET /a"] == nil || eps["GET /b"] == nil || eps["GET {other}"].GetRequests() != 1 {
		t.Errorf("endpoints = %v", eps)
	}
}

// Endpoints that age out or are cleared make room under the cap.
func TestEndpointCapFreedByRetentionAndClear(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{MaxEndpoints: 2, Retention: 2 * time.Hour})
	defer e.Close()
	ingest(t, e, at(clk, dg("k0", primary, "/a", 200, okBody()...)), at(clk, dg("k0", secondary, "/a", 200, okBody()...)),
		at(clk, dg("k0", candidate, "/a", 200, okBody()...)))
	request(t, e, clk, "k1", "/b")
	request(t, e, clk, "k2", "/c")
	if eps := endpointsOf(t, e); eps["GET /c"] != nil || eps["GET {other}"] == nil {
		t.Fatalf("endpoints at the cap = %v", eps)
	}
	clk.Add(3 * time.Hour)
	if err := e.maintain(); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	if e.secondarySeen["GET /a"] {
		t.Error("an endpoint gone with retention is still remembered as having a secondary")
	}
	e.mu.Unlock()
	request(t, e, clk, "k3", "/c")
	request(t, e, clk, "k4", "/d")
	request(t, e, clk, "k5", "/e")
	eps := endpointsOf(t, e)
	if eps["GET /c"] == nil || eps["GET /d"] == nil || eps["GET {other}"].GetRequests() != 1 {
		t.Fatalf("after retention: %v", eps)
	}
	// The overflow endpoint counts too: it is one of the endpoints kept.
	if _, err := e.QueryServer().Clear(context.Background(), &shadowdiffv1.ClearRequest{}); err != nil {
		t.Fatal(err)
	}
	request(t, e, clk, "k6", "/e")
	if eps := endpointsOf(t, e); eps["GET /e"] == nil {
		t.Errorf("after a clear: %v", eps)
	}
}

// writeOrder records what a store writes: endpoint rules, and the
// endpoints of the records each batch holds.
type writeOrder struct {
	store.Store
	mu     sync.Mutex
	writes []string
}

func (w *writeOrder) PutEndpointRule(r *shadowdiffv1.EndpointRule) (*shadowdiffv1.EndpointRule, error) {
	// A slow rule write: stored inside the ingest call, it still comes
	// first; stored by the engine's loop instead, the batch's commit
	// overtakes it, every time rather than by chance.
	time.Sleep(50 * time.Millisecond)
	w.mu.Lock()
	w.writes = append(w.writes, "rule "+r.GetEndpoint())
	w.mu.Unlock()
	return w.Store.PutEndpointRule(r)
}

func (w *writeOrder) Apply(bs ...*store.Batch) error {
	w.mu.Lock()
	for _, b := range bs {
		for _, rec := range b.Records {
			w.writes = append(w.writes, "record "+rec.GetEndpoint())
		}
	}
	w.mu.Unlock()
	return w.Store.Apply(bs...)
}

// A rule learned from an ingest is stored before the batch whose records
// carry its name: a crash between the two writes cannot leave records
// named by a rule never stored.
func TestLearnedRuleStoredBeforeTheRecordsNamedByIt(t *testing.T) {
	clk := newClock()
	st := &writeOrder{}
	e := openOnStore(t, t.TempDir(), func(s store.Store) store.Store { st.Store = s; return st },
		Options{AutoTemplateThreshold: 3, Now: clk.Now, PairWindow: 10 * time.Second})
	defer e.Close()
	for i, name := range []string{"alice", "bob", "carol", "dave"} {
		request(t, e, clk, fmt.Sprintf("k%d", i), "/users/"+name+"/cart")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	rule := slices.Index(st.writes, "rule GET /users/{slug}/cart")
	record := slices.Index(st.writes, "record GET /users/{slug}/cart")
	if rule < 0 || record < 0 || rule > record {
		t.Errorf("writes %q: want the learned rule before the first record named by it", st.writes)
	}
}

// Endpoints counted before a rule named their paths are superseded: never
// judged, with the rule that carries their traffic now, so that a learned
// rule does not leave one-request endpoints failing a CI gate until they
// age out. Ids keep their endpoint, which is not superseded.
func TestEndpointsBeforeALearnedRuleAreSuperseded(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{AutoTemplateThreshold: 3})
	defer e.Close()
	for i, p := range []string{"/users/alice/cart", "/users/bob/cart", "/users/carol/cart", "/users/dave/cart", "/users/42/cart"} {
		request(t, e, clk, fmt.Sprintf("k%d", i), p)
	}
	rules, err := e.st.EndpointRules()
	if err != nil || len(rules) != 1 {
		t.Fatalf("rules = %v, %v; want the learned one", rules, err)
	}
	eps := endpointsOf(t, e)
	for _, name := range []string{"GET /users/alice/cart", "GET /users/bob/cart", "GET /users/carol/cart"} {
		s := eps[name]
		if s.GetSupersededBy() != rules[0].GetId() || s.GetVerdict() != shadowdiffv1.Verdict_VERDICT_INSUFFICIENT_DATA ||
			!strings.Contains(s.GetVerdictReason(), `"GET /users/{slug}/cart"`) || !s.NeverJudged() {
			t.Errorf("%s: superseded_by %q, verdict %v (%s); want superseded by %s, never judged",
				name, s.GetSupersededBy(), s.GetVerdict(), s.GetVerdictReason(), rules[0].GetId())
		}
	}
	for _, name := range []string{"GET /users/{slug}/cart", "GET /users/{id}/cart"} {
		if s := eps[name]; s == nil || s.GetSupersededBy() != "" || s.NeverJudged() {
			t.Errorf("%s: %v, want an endpoint of its own, to be judged", name, s)
		}
	}
	// A raw path with braces is templated, not rule-named: not orphaned.
	request(t, e, clk, "k-braces", "/search/{q}")
	if s := endpointsOf(t, e)["GET /search/{q}"]; s == nil || s.GetSupersededBy() != "" {
		t.Errorf("a raw path with braces: %v, want an endpoint of its own", s)
	}
	// A user's rule for the learned pattern takes its paths: the learned
	// endpoint is superseded by it.
	user, err := e.QueryServer().CreateEndpointRule(context.Background(), &shadowdiffv1.CreateEndpointRuleRequest{Rule: &shadowdiffv1.EndpointRule{
		PathPattern: "/users/{user}/cart", Endpoint: "cart"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := endpointsOf(t, e)["GET /users/{slug}/cart"]; s.GetSupersededBy() != user.GetId() {
		t.Errorf("after a user's rule for its pattern: superseded_by %q, want %s", s.GetSupersededBy(), user.GetId())
	}
	if _, err := e.QueryServer().DeleteEndpointRule(context.Background(), &shadowdiffv1.DeleteEndpointRuleRequest{Id: user.GetId()}); err != nil {
		t.Fatal(err)
	}
	// Deleted, the learned rule leaves its endpoint orphaned: no request
	// will reach it again.
	if _, err := e.QueryServer().DeleteEndpointRule(context.Background(), &shadowdiffv1.DeleteEndpointRuleRequest{Id: rules[0].GetId()}); err != nil {
		t.Fatal(err)
	}
	if s := endpointsOf(t, e)["GET /users/{slug}/cart"]; s.GetSupersededBy() != "(deleted rule)" || !s.NeverJudged() || !strings.Contains(s.GetVerdictReason(), "orphaned") {
		t.Errorf("after its rule was deleted: %v, want it orphaned and never judged", s)
	}
}

// A superseded endpoint keeps the verdict its requests earned: renaming
// an endpoint with a rule must not clear a regression it showed.
func TestSupersededEndpointKeepsItsRegression(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{MinSamples: 100})
	defer e.Close()
	seedShop(t, e, clk, 150)
	const ep = "GET /orders/{id}"
	if s := endpointsOf(t, e)[ep]; s.GetVerdict() != shadowdiffv1.Verdict_VERDICT_REGRESSION {
		t.Fatalf("seeded %s: %v, want a regression", ep, s)
	}
	if _, err := e.QueryServer().CreateEndpointRule(context.Background(), &shadowdiffv1.CreateEndpointRuleRequest{Rule: &shadowdiffv1.EndpointRule{
		Method: "GET", PathPattern: "/orders/{order}", Endpoint: "orders"}}); err != nil {
		t.Fatal(err)
	}
	if s := endpointsOf(t, e)[ep]; s.GetSupersededBy() == "" || s.GetVerdict() != shadowdiffv1.Verdict_VERDICT_REGRESSION || s.NeverJudged() {
		t.Errorf("%s after a rule renamed its paths: superseded_by %q, verdict %v; want still a regression", ep, s.GetSupersededBy(), s.GetVerdict())
	}
}

// The same method and pattern twice is refused, as a noise rule given twice
// is (the second could never name a path); over a learned one it is not.
func TestEndpointRuleGivenTwice(t *testing.T) {
	clk := newClock()
	e := openEngine(t, t.TempDir(), clk, Options{})
	defer e.Close()
	q := e.QueryServer()
	add := func(method, pattern string) error {
		_, err := q.CreateEndpointRule(context.Background(), &shadowdiffv1.CreateEndpointRuleRequest{Rule: &shadowdiffv1.EndpointRule{
			Method: method, PathPattern: pattern, Endpoint: method + " " + pattern}})
		return err
	}
	if err := add("GET", "/users/{user}"); err != nil {
		t.Fatal(err)
	}
	if err := add("get", "/users/{user}"); status.Code(err) != codes.AlreadyExists {
		t.Errorf("the same rule again: %v, want AlreadyExists", err)
	}
	if err := add("GET", "/users/{name}"); status.Code(err) != codes.AlreadyExists {
		t.Errorf("the same pattern with another placeholder name: %v, want AlreadyExists", err)
	}
	if err := add("", "/users/{user}"); err != nil {
		t.Errorf("the pattern for any method: %v", err)
	}
}
