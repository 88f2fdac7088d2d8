package engine

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"unsafe"
	"weak"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

func templatePath(path string) string {
	segs := strings.Split(path, "/")
	templateSegs(segs)
	return strings.Join(segs, "/")
}

func TestTemplatePath(t *testing.T) {
	for in, want := range map[string]string{
		"/":                  "/",
		"/users":             "/users",
		"/users/42":          "/users/{id}",
		"/users/42/orders/7": "/users/{id}/orders/{id}",
		"/u/3f2b8c1e-9a4d-4f6b-8e2a-1c5d7b9e0f12/x": "/u/{id}/x",
		"/blobs/0123456789abcdef0123":               "/blobs/{id}",
		"/blobs/abcdef":                             "/blobs/abcdef", // short hex stays
		"/v2/items":                                 "/v2/items",     // mixed segment stays
		"/a/3f2b8c1e-9a4d-4f6b-8e2a-1c5d7b9e0f1":    "/a/3f2b8c1e-9a4d-4f6b-8e2a-1c5d7b9e0f1",
		"/files/deadbeefdeadbeef/":                  "/files/{id}/",
	} {
		if got := templatePath(in); got != want {
			t.Errorf("templatePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEndpointRules(t *testing.T) {
	m := newEndpointMapper(mapperConfig{}, newAggregates())
	var rules []*endpointRule
	for _, r := range []*shadowdiffv1.EndpointRule{
		{Id: "1", PathPattern: "/users/{name}", Endpoint: "GET /users/{name}", Method: "GET"},
		{Id: "2", PathPattern: "/static/**", Endpoint: "static"},
		{Id: "3", PathPattern: "/users/me", Endpoint: "GET /users/me"},
	} {
		er, err := parseEndpointRule(r)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, er)
	}
	m.setRules(rules, nil)
	d := func(method, path, route string) *shadowdiffv1.ResponseDigest {
		return &shadowdiffv1.ResponseDigest{Endpoint: &shadowdiffv1.EndpointRef{Method: method, Path: path, RouteName: route}}
	}
	for _, tc := range []struct {
		d                    *shadowdiffv1.ResponseDigest
		key, template, route string
	}{
		{d("GET", "/users/alice", "r1"), "GET /users/{name}", "/users/{name}", "r1"},
		{d("get", "/users/me", ""), "GET /users/me", "/users/me", ""},            // more literal segments win
		{d("POST", "/users/alice", ""), "POST /users/alice", "/users/alice", ""}, // method mismatch: templating
		{d("GET", "/static/css/app.css", ""), "static", "/static/**", ""},
		{d("GET", "/static", ""), "static", "/static/**", ""}, // "**" matches zero or more segments
		{d("DELETE", "/orders/17", "orders"), "DELETE /orders/{id}", "/orders/{id}", "orders"},
	} {
		got := m.of(tc.d)
		if got.key != tc.key || got.pathTemplate != tc.template || got.routeName != tc.route {
			t.Errorf("%s %s = %+v, want %q %q %q", tc.d.Endpoint.Method, tc.d.Endpoint.Path, got, tc.key, tc.template, tc.route)
		}
	}
	for _, bad := range []*shadowdiffv1.EndpointRule{
		nil,
		{PathPattern: "users", Endpoint: "x"},
		{PathPattern: "/a/**/b", Endpoint: "x"},
		{PathPattern: "/a/{b", Endpoint: "x"},
		{PathPattern: "/a", Endpoint: " "},
		{PathPattern: "/a", Endpoint: "x", Method: "G T"},
		{PathPattern: "/caf\xe9", Endpoint: "x"},
		{PathPattern: "/a", Endpoint: "caf\xe9"},
		{PathPattern: "/" + strings.Repeat("a", maxPathLen), Endpoint: "x"},
	} {
		if _, err := parseEndpointRule(bad); err == nil {
			t.Errorf("rule %v accepted", bad)
		}
	}
}

// The endpoint cache and the aggregates keep copies of a digest's path and
// route name, not the digest's memory: the collector's decoder cuts all of
// a digest's strings from one allocation.
func TestEndpointsDoNotKeepTheDigestsMemory(t *testing.T) {
	a := newAggregates()
	m := newEndpointMapper(mapperConfig{maxEndpoints: 100, learnThreshold: 3}, a) // reservations and learning on
	var probes []weak.Pointer[byte]
	for i := range 8 {
		all := strings.Repeat("x", 1<<20) + fmt.Sprintf("/api/orders/%d", i) + "route-of-the-orders"
		path, route := all[1<<20:len(all)-len("route-of-the-orders")], all[len(all)-len("route-of-the-orders"):]
		d := &shadowdiffv1.ResponseDigest{Endpoint: &shadowdiffv1.EndpointRef{Method: "GET", Path: path, RouteName: route}}
		a.endpoint(m.of(d))
		probes = append(probes, weak.Make(unsafe.StringData(all)))
	}
	runtime.GC()
	for i, p := range probes {
		if p.Value() != nil {
			t.Errorf("digest %d's strings are still reachable", i)
		}
	}
	if got := a.eps["GET /api/orders/{id}"]; got == nil || got.routeName != "route-of-the-orders" {
		t.Errorf("endpoint = %+v, want GET /api/orders/{id} with its route name", got)
	}
	runtime.KeepAlive(m) // its cache is what is checked
}
