package envoy

import (
	"testing"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

func TestVirtualHostSelectionFollowsEnvoy(t *testing.T) {
	vh := func(name string, domains ...string) *VirtualHost { return &VirtualHost{Name: name, Domains: domains} }
	table := newRouteTable(&RouteConfig{VirtualHosts: []*VirtualHost{
		vh("exact", "api.example.com", "api.example.com:8080"),
		vh("short-suffix", "*.com"),
		vh("long-suffix", "*.example.com"),
		vh("dash-suffix", "*-shadow"),
		vh("prefix", "api.*"),
		vh("default", "*"),
	}})
	cases := map[string]string{
		"api.example.com":      "exact",
		"API.Example.com":      "exact",
		"api.example.com:8080": "exact",
		"www.example.com":      "long-suffix",
		"foo.com":              "short-suffix",
		".example.com":         "short-suffix", // a wildcard matches at least one character
		"app-shadow":           "dash-suffix",
		"api.internal":         "prefix",
		"localhost:10000":      "default",
		"api.example.com:9090": "prefix", // the port is part of the host Envoy matches
	}
	for host, want := range cases {
		if got := table.virtualHost(host); got == nil || got.Name != want {
			t.Errorf("%s: got %v, want %s", host, got, want)
		}
	}
	none := newRouteTable(&RouteConfig{VirtualHosts: []*VirtualHost{vh("only", "a.b")}})
	if got := none.virtualHost("c.d"); got != nil {
		t.Errorf("no default host: got %s", got.Name)
	}
}

func TestHeaderMatchers(t *testing.T) {
	h := &httpfilter.Headers{}
	h.Add("x-version", "v2")
	h.Add("x-multi", "a")
	h.Add("x-multi", "b")
	cases := []struct {
		m    HeaderMatch
		want bool
	}{
		{HeaderMatch{Name: "x-version", Kind: "exact", Value: "v2"}, true},
		{HeaderMatch{Name: "x-version", Kind: "exact", Value: "V2"}, false},
		{HeaderMatch{Name: "x-version", Kind: "exact", Value: "V2", IgnoreCase: true}, true},
		{HeaderMatch{Name: "x-version", Kind: "prefix", Value: "v"}, true},
		{HeaderMatch{Name: "x-multi", Kind: "exact", Value: "a,b"}, true},
		{HeaderMatch{Name: "x-version", Kind: "present", Present: true}, true},
		{HeaderMatch{Name: "x-absent", Kind: "present", Present: true}, false},
		{HeaderMatch{Name: "x-absent", Kind: "present", Present: false}, true},
		{HeaderMatch{Name: "x-version", Kind: "exact", Value: "v1", Invert: true}, true},
		{HeaderMatch{Name: "x-absent", Kind: "exact", Value: "v1", Invert: true}, false},
		{HeaderMatch{Name: "x-version", Kind: "contains", Value: "2"}, true},
		{HeaderMatch{Name: "x-version", Kind: "suffix", Value: "3"}, false},
	}
	for _, tc := range cases {
		if got := tc.m.matches(h); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.m, got, tc.want)
		}
	}
}

func TestShadowAuthority(t *testing.T) {
	cases := map[string]string{
		"foo":             "foo-shadow",
		"localhost:10000": "localhost-shadow:10000",
		"10.0.0.1:80":     "10.0.0.1-shadow:80",
		"[::1]:8080":      "[::1]-shadow:8080",
		"[::1]":           "[::1]-shadow",
	}
	for in, want := range cases {
		if got := shadowAuthority(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestPrefixMatchIgnoresCaseWhenAsked(t *testing.T) {
	m := RouteMatch{Kind: MatchPrefix, Prefix: "/API", CaseSensitive: true}
	if m.matches("/api/x", &httpfilter.Headers{}) {
		t.Error("case-sensitive prefix matched")
	}
	m.CaseSensitive = false
	if !m.matches("/api/x", &httpfilter.Headers{}) {
		t.Error("case-insensitive prefix did not match")
	}
}
