package sampleapp

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"

	"github.com/shadowdiff/shadowdiff/e2e/traffic"
)

func newApp(t *testing.T, v Variant, instance string) *App {
	t.Helper()
	a, err := New(Config{Variant: v, Instance: instance, Hostname: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type response struct {
	status int
	header http.Header
	body   []byte // decoded (gunzipped)
}

func do(t *testing.T, a http.Handler, r traffic.Request) response {
	t.Helper()
	req := httptest.NewRequest(r.Method, r.Path, bytes.NewReader(r.Body))
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s %s: gzip: %v", r.Method, r.Path, err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s %s: gunzip: %v", r.Method, r.Path, err)
		}
	}
	return response{rec.Code, rec.Header(), body}
}

// field is what a generalised path ("body.items[].price") holds over all its occurrences.
type field struct {
	types []string
	vals  []string // canonical scalar values in document order
	lens  []int    // array lengths in document order
}

func flatten(t *testing.T, body []byte) map[string]*field {
	t.Helper()
	fields := map[string]*field{}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body is not JSON: %v: %.200s", err, body)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		f := fields[path]
		if f == nil {
			f = &field{}
			fields[path] = f
		}
		switch v := v.(type) {
		case map[string]any:
			f.types = append(f.types, "object")
			for k, c := range v {
				walk(path+"."+k, c)
			}
		case []any:
			f.types = append(f.types, "array")
			f.lens = append(f.lens, len(v))
			for _, c := range v {
				walk(path+"[]", c)
			}
		case json.Number:
			f.types = append(f.types, "number")
			f.vals = append(f.vals, v.String())
		case string:
			f.types = append(f.types, "string")
			f.vals = append(f.vals, v)
		default:
			f.types = append(f.types, fmt.Sprintf("%T", v))
			f.vals = append(f.vals, fmt.Sprint(v))
		}
	}
	walk("body", v)
	return fields
}

func sorted(s []string) []string { s = slices.Clone(s); sort.Strings(s); return s }

func uniq(s []string) []string { s = sorted(s); return slices.Compact(s) }

// diff compares two responses the way the collector's kinds name differences
// (a is the primary side): path -> kind.
func diff(t *testing.T, a, b response) map[string]shadowdiffv1.DiffKind {
	t.Helper()
	d := map[string]shadowdiffv1.DiffKind{}
	if a.status != b.status {
		d["status"] = kStatus
	}
	names := map[string]bool{}
	for k := range a.header {
		names[strings.ToLower(k)] = true
	}
	for k := range b.header {
		names[strings.ToLower(k)] = true
	}
	for k := range names {
		if k == "date" || k == "content-length" {
			continue // excluded by the filter's defaults
		}
		if strings.Join(a.header.Values(k), ",") != strings.Join(b.header.Values(k), ",") {
			d["headers."+k] = kHeader
		}
	}
	if !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") ||
		!strings.HasPrefix(b.header.Get("Content-Type"), "application/json") {
		if !bytes.Equal(a.body, b.body) {
			d["body"] = shadowdiffv1.DiffKind_DIFF_KIND_BODY_NOT_COMPARABLE
		}
		return d
	}
	fa, fb := flatten(t, a.body), flatten(t, b.body)
	for p, x := range fa {
		y, ok := fb[p]
		switch {
		case !ok:
			d[p] = kMiss
		case !slices.Equal(uniq(x.types), uniq(y.types)):
			d[p] = kType
		case !slices.Equal(x.lens, y.lens):
			d[p] = kLength
		case slices.Equal(x.vals, y.vals):
		case slices.Equal(sorted(x.vals), sorted(y.vals)):
			d[p] = kOrder
		default:
			d[p] = kValue
		}
	}
	for p := range fb {
		if _, ok := fa[p]; !ok {
			d[p] = kExtra
		}
	}
	return d
}

func noiseKinds(route, path string) []shadowdiffv1.DiffKind {
	var ks []shadowdiffv1.DiffKind
	for _, n := range NoiseFields() {
		if (n.Route == "" || n.Route == route) && covers(n.Path, path) {
			ks = append(ks, n.Kinds...)
		}
	}
	return ks
}

// noiseOnly: a difference between two instances of one variant is listed
// noise (with a listed kind) or an ancestor of listed noise.
func checkNoiseOnly(t *testing.T, route, path string, kind shadowdiffv1.DiffKind) {
	t.Helper()
	if IsNoise(route, path) {
		if !slices.Contains(noiseKinds(route, path), kind) {
			t.Errorf("%s %s: noise differs as %s, not as listed %v", route, path, kind, noiseKinds(route, path))
		}
		return
	}
	for _, n := range NoiseFields() {
		if (n.Route == "" || n.Route == route) && isAncestor(path, n.Path) {
			return
		}
	}
	t.Errorf("%s: %s differs (%s) between instances of one variant but is not listed noise", route, path, kind)
}

// seenNoise checks that every listed noise field of the routes exercised
// really differed at least once, so the list does not go stale.
func checkNoiseSeen(t *testing.T, seen map[string]bool, routesSeen map[string]bool) {
	t.Helper()
	for _, n := range NoiseFields() {
		if n.Route != "" && !routesSeen[n.Route] {
			continue
		}
		if !seen[n.Route+"|"+n.Path] {
			t.Errorf("noise %q on %q never differed", n.Path, n.Route)
		}
	}
}

func markSeen(seen map[string]bool, route, path string) {
	for _, n := range NoiseFields() {
		if (n.Route == "" || n.Route == route) && covers(n.Path, path) {
			seen[n.Route+"|"+n.Path] = true
		}
	}
}

func TestNoiseBetweenInstancesOfOneVariant(t *testing.T) {
	for _, v := range []Variant{V1, V2} {
		t.Run(string(v), func(t *testing.T) {
			a, b := newApp(t, v, string(v)+"-a"), newApp(t, v, string(v)+"-b")
			seen, routesSeen := map[string]bool{}, map[string]bool{}
			for _, r := range Traffic(1, 400) {
				route := Route(r.Method, strings.SplitN(r.Path, "?", 2)[0])
				routesSeen[route] = true
				ra, rb := do(t, a, r), do(t, b, r)
				if ra.status >= 300 && r.Method != "GET" {
					t.Fatalf("%s %s: status %d", r.Method, r.Path, ra.status)
				}
				for p, k := range diff(t, ra, rb) {
					checkNoiseOnly(t, route, p, k)
					markSeen(seen, route, p)
				}
			}
			checkNoiseSeen(t, seen, routesSeen)
		})
	}
}

// The same instance answers the same request differently too (noise
// between requests, not only between instances).
func TestNoiseBetweenRequests(t *testing.T) {
	a := newApp(t, V1, "v1-a")
	for _, path := range []string{"/users/10", "/orders?user=4", "/catalog/items", "/health", "/export?user=2"} {
		r := traffic.Request{Method: "GET", Path: path}
		route := Route("GET", strings.SplitN(path, "?", 2)[0])
		d := diff(t, do(t, a, r), do(t, a, r))
		if len(d) == 0 {
			t.Errorf("%s: two responses of one instance are identical; want noise", path)
		}
		for p, k := range d {
			checkNoiseOnly(t, route, p, k)
		}
	}
}

func TestChangesAreDeterministicAndComplete(t *testing.T) {
	v1, v2 := newApp(t, V1, "v1-primary"), newApp(t, V2, "v2-candidate")
	reqs := Traffic(2, 600)
	// Make sure both sides of the input-dependent change are exercised.
	reqs = append(reqs, traffic.Request{Method: "GET", Path: "/users/13"}, traffic.Request{Method: "GET", Path: "/users/14"},
		traffic.Request{Method: "GET", Path: "/users/abc"}, traffic.Request{Method: "GET", Path: "/orders?user=0"})
	shown := map[string]int{}
	for _, r := range reqs {
		route := Route(r.Method, strings.SplitN(r.Path, "?", 2)[0])
		d := diff(t, do(t, v1, r), do(t, v2, r))
		for p, k := range d {
			if !Explained(route, p) {
				t.Errorf("%s %s: %s differs (%s) but is neither a listed change nor noise", r.Method, r.Path, p, k)
			}
		}
		for _, c := range Changes() {
			if c.Route != route {
				continue
			}
			k, differs := d[c.Path]
			if want := c.Affects(r.Method, r.Path); want != differs {
				t.Errorf("%s %s: change %s: differs=%v, Affects=%v", r.Method, r.Path, c.ID, differs, want)
			} else if differs {
				shown[c.ID]++
				if k != c.Kind {
					t.Errorf("%s %s: change %s shows as %s, listed as %s", r.Method, r.Path, c.ID, k, c.Kind)
				}
				for _, cp := range c.Consequences {
					if _, ok := d[cp]; !ok {
						t.Errorf("%s %s: consequence %s of %s does not differ", r.Method, r.Path, cp, c.ID)
					}
				}
			}
		}
	}
	for _, c := range Changes() {
		if shown[c.ID] == 0 {
			t.Errorf("change %s never showed", c.ID)
		}
	}
	if n := shown["user-tier"]; n == 0 || n == shown["user-locale"] {
		t.Errorf("user-tier shows on %d of %d user requests: want some only", n, shown["user-locale"])
	}
}

func TestEveryKindIsInjected(t *testing.T) {
	kinds := map[shadowdiffv1.DiffKind]bool{}
	for _, c := range Changes() {
		kinds[c.Kind] = true
		if Route(c.Method(), strings.ReplaceAll(c.Template(), "{id}", "1")) != c.Route {
			t.Errorf("change %s: route %q is not a route of the app", c.ID, c.Route)
		}
	}
	for _, k := range []shadowdiffv1.DiffKind{kValue, kType, kMiss, kExtra, kLength, kStatus, kHeader} {
		if !kinds[k] {
			t.Errorf("no change of kind %s", k)
		}
	}
	clean := 0
	for _, ep := range Endpoints() {
		if len(ep.Changes) == 0 && !ep.SideEffect {
			clean++
		}
	}
	if clean < 2 {
		t.Errorf("want at least two clean GET endpoints, got %d", clean)
	}
}

func TestBodiesOfEachKind(t *testing.T) {
	a := newApp(t, V1, "v1-a")
	rep := do(t, a, traffic.Request{Method: "GET", Path: "/report"})
	if len(rep.body) <= 1<<20 || !json.Valid(rep.body) {
		t.Errorf("GET /report: %d bytes (valid JSON %v), want valid JSON over 1 MiB", len(rep.body), json.Valid(rep.body))
	}
	if i := bytes.Index(rep.body, []byte(`"meta"`)); i < 1<<20 {
		t.Errorf("GET /report: noise at byte %d, want it after the first MiB", i)
	}
	req := httptest.NewRequest("GET", "/export?user=3", nil)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	if rec.Header().Get("Content-Encoding") != "gzip" || !bytes.HasPrefix(rec.Body.Bytes(), []byte{0x1f, 0x8b}) {
		t.Errorf("GET /export: not gzip: %q %x", rec.Header().Get("Content-Encoding"), rec.Body.Bytes()[:2])
	}
	av := do(t, a, traffic.Request{Method: "GET", Path: "/avatar/7"})
	if av.header.Get("Content-Type") != "image/png" || utf8Valid(av.body) {
		t.Errorf("GET /avatar/7: %s, want binary image/png", av.header.Get("Content-Type"))
	}
	lg := do(t, a, traffic.Request{Method: "GET", Path: "/legacy?q=1"})
	if lg.status != 200 || !strings.HasPrefix(lg.header.Get("Content-Type"), "text/plain") {
		t.Errorf("GET /legacy: %d %s", lg.status, lg.header.Get("Content-Type"))
	}
	if got := do(t, newApp(t, V2, "v2"), traffic.Request{Method: "GET", Path: "/legacy?q=1"}); got.status != 404 || !bytes.Equal(got.body, lg.body) {
		t.Errorf("v2 GET /legacy: %d %q, want 404 with v1's body %q", got.status, got.body, lg.body)
	}
	for _, c := range []struct {
		r    traffic.Request
		want int
	}{
		{traffic.Request{Method: "GET", Path: "/users/0"}, 400},
		{traffic.Request{Method: "GET", Path: "/users/100001"}, 404},
		{traffic.Request{Method: "POST", Path: "/orders", Body: []byte(`{"user":1}`)}, 400},
		{traffic.Request{Method: "POST", Path: "/orders", Body: []byte(`{"user":1,"items":[{"sku":"a","qty":2}]}`)}, 201},
		{traffic.Request{Method: "PUT", Path: "/users/5", Body: []byte(`{"name":"X"}`)}, 200},
		{traffic.Request{Method: "DELETE", Path: "/orders/501"}, 204},
		{traffic.Request{Method: "GET", Path: "/catalog/items?page=0"}, 400},
		{traffic.Request{Method: "GET", Path: "/nope"}, 404},
	} {
		if got := do(t, a, c.r); got.status != c.want {
			t.Errorf("%s %s: %d, want %d (%s)", c.r.Method, c.r.Path, got.status, c.want, got.body)
		}
	}
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

func TestStatsCountRoutesAndShadows(t *testing.T) {
	a := newApp(t, V1, "v1-secondary")
	srv := httptest.NewServer(a)
	defer srv.Close()
	send := func(method, path string, shadow bool) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(`{"user":1,"items":[{"sku":"a","qty":1}]}`))
		if shadow {
			req.Header.Set(ShadowHeader, "true")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send("GET", "/users/1", false)
	send("GET", "/users/2", true)
	send("POST", "/orders", false)
	send("DELETE", "/orders/3", true)
	send("GET", "/missing", false)
	st, err := FetchStats(t.Context(), nil, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"GET /users/{id}": 2, "POST /orders": 1, "DELETE /orders/{id}": 1, "unmatched": 1}
	if fmt.Sprint(st.Requests) != fmt.Sprint(want) {
		t.Errorf("requests %v, want %v", st.Requests, want)
	}
	if fmt.Sprint(st.Shadow) != fmt.Sprint(map[string]uint64{"GET /users/{id}": 1, "DELETE /orders/{id}": 1}) {
		t.Errorf("shadow %v", st.Shadow)
	}
	if st.SideEffects() != 2 || st.Instance != "v1-secondary" || st.Variant != V1 {
		t.Errorf("side effects %d, instance %q, variant %q", st.SideEffects(), st.Instance, st.Variant)
	}
}

func TestTrafficMix(t *testing.T) {
	total := 0
	for _, m := range Mix {
		total += m.Percent
	}
	if total != 100 {
		t.Fatalf("Mix sums to %d", total)
	}
	reqs := Traffic(7, 2000)
	if fmt.Sprint(reqs[:50]) != fmt.Sprint(Traffic(7, 50)) {
		t.Error("Traffic is not reproducible from its seed")
	}
	count := map[string]int{}
	for _, r := range reqs {
		route := Route(r.Method, strings.SplitN(r.Path, "?", 2)[0])
		if route == "" {
			t.Fatalf("%s %s reaches no route", r.Method, r.Path)
		}
		count[route]++
	}
	for _, ep := range Endpoints() {
		if count[ep.Route] == 0 {
			t.Errorf("Traffic never sends %s", ep.Route)
		}
	}
}

func TestManifestJSON(t *testing.T) {
	b, err := json.Marshal(Manifest())
	if err != nil {
		t.Fatal(err)
	}
	var m ManifestJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if len(m.Changes) != len(Changes()) || len(m.Noise) != len(NoiseFields()) {
		t.Fatalf("manifest has %d changes, %d noise", len(m.Changes), len(m.Noise))
	}
	for _, c := range m.Changes {
		if _, ok := shadowdiffv1.DiffKind_value[c.Kind]; !ok || c.Kind == "DIFF_KIND_UNSPECIFIED" {
			t.Errorf("change %s: kind %q", c.ID, c.Kind)
		}
	}
}

func TestParseVariant(t *testing.T) {
	if _, err := ParseVariant("v3"); err == nil {
		t.Error("v3 accepted")
	}
	if _, err := New(Config{Variant: "v9"}); err == nil {
		t.Error("New accepted variant v9")
	}
}

func TestEndpointRulesCoverEveryRoute(t *testing.T) {
	rules := EndpointRules()
	if len(rules) != len(Endpoints()) {
		t.Fatalf("%d rules for %d endpoints", len(rules), len(Endpoints()))
	}
	for _, r := range rules {
		path := strings.NewReplacer("{id}", "42").Replace(r.GetPathPattern())
		if got := Route(r.GetMethod(), path); got != r.GetEndpoint() {
			t.Errorf("rule %s %s → %q, but the path routes to %q", r.GetMethod(), r.GetPathPattern(), r.GetEndpoint(), got)
		}
	}
}

func TestFaults(t *testing.T) {
	a := newApp(t, V2, "v2-candidate")
	srv := httptest.NewServer(a)
	defer srv.Close()
	ctx := t.Context()
	get := func(path string) (*http.Response, error) {
		resp, err := http.Get(srv.URL + path)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}

	if err := SetFault(ctx, nil, srv.URL, Fault{Reset: true}); err != nil {
		t.Fatal(err)
	}
	if resp, err := get("/users/1"); err == nil {
		t.Errorf("reset fault: got %s, want a transport error", resp.Status)
	}
	if resp, err := get("/health"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET /health under a fault: %v %v", resp, err)
	}

	if err := SetFault(ctx, nil, srv.URL, Fault{Status: 503, Delay: Duration(30 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if resp, err := get("/catalog/items"); err != nil || resp.StatusCode != 503 {
		t.Errorf("status fault: %v %v", resp, err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("delay fault: answered after %s", d)
	}

	if err := SetFault(ctx, nil, srv.URL, Fault{}); err != nil {
		t.Fatal(err)
	}
	if resp, err := get("/users/1"); err != nil || resp.StatusCode != 200 {
		t.Errorf("after clearing the fault: %v %v", resp, err)
	}
	st, err := FetchStats(ctx, nil, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if st.Count("GET /users/{id}") != 2 || st.Count("GET /catalog/items") != 1 {
		t.Errorf("faulted requests must still be counted: %v", st.Requests)
	}

	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/__fault", strings.NewReader(`{"delay":"soon"}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("bad fault accepted: %v %v", resp, err)
	}
}
