package sampleapp

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Field paths below use the query API's namespace (proto/shadowdiff/v1/query.proto):
// "status", "headers.<lower-case name>", "body.user.tier", "body.items[].price".
// Routes are ServeMux patterns ("GET /users/{id}"): method, a space and the
// path template; the collector's endpoint key for the same requests may be
// named differently (route name or its own templating), so tests map by
// method and path template.

// Change is one real difference v2 has from v1.
type Change struct {
	ID    string
	Route string // "GET /users/{id}"
	// Path is the field the difference shows on, and Kind how.
	Path string
	Kind shadowdiffv1.DiffKind
	// Consequences are other paths that differ on the same requests because
	// of this change (the elements of an array that grew). Ancestors of Path
	// (e.g. "body.user", "body") hold hashes of their children and may
	// differ too; Explained accounts for them.
	Consequences []string
	Description  string
	// affects reports whether a request (already routed to Route) shows it.
	affects func(u *url.URL) bool
}

// Method and Template split the route: "GET", "/users/{id}".
func (c Change) Method() string   { m, _, _ := strings.Cut(c.Route, " "); return m }
func (c Change) Template() string { _, t, _ := strings.Cut(c.Route, " "); return t }

// Affects reports whether v2's response to the request differs from v1's
// on this change's path. target is the request URI ("/users/13?x=1").
func (c Change) Affects(method, target string) bool {
	u, err := url.ParseRequestURI(target)
	if err != nil || Route(method, u.Path) != c.Route {
		return false
	}
	return c.affects(u)
}

// Noise is a field whose value differs between two v1 instances (or between
// requests) for reasons that are not regressions. Path is a prefix: it
// covers itself and its children ("body.meta" covers "body.meta.counter").
type Noise struct {
	Route       string // empty: every route
	Path        string
	Kinds       []shadowdiffv1.DiffKind // how it differs
	Description string
}

var (
	kValue  = shadowdiffv1.DiffKind_DIFF_KIND_VALUE
	kType   = shadowdiffv1.DiffKind_DIFF_KIND_TYPE
	kMiss   = shadowdiffv1.DiffKind_DIFF_KIND_MISSING
	kExtra  = shadowdiffv1.DiffKind_DIFF_KIND_EXTRA
	kLength = shadowdiffv1.DiffKind_DIFF_KIND_ARRAY_LENGTH
	kOrder  = shadowdiffv1.DiffKind_DIFF_KIND_ORDER_ONLY
	kStatus = shadowdiffv1.DiffKind_DIFF_KIND_STATUS
	kHeader = shadowdiffv1.DiffKind_DIFF_KIND_HEADER
)

// validUser reports whether the user id in s answers 200.
func validUser(s string) bool {
	id, err := strconv.Atoi(s)
	return err == nil && id >= 1 && id <= MaxUserID
}

func validPage(u *url.URL) bool {
	p := u.Query().Get("page")
	if p == "" {
		return true
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 500
}

func pathID(u *url.URL) string { return u.Path[strings.LastIndexByte(u.Path, '/')+1:] }

// Changes lists every change v2 carries, one per kind and more.
func Changes() []Change {
	userOK := func(u *url.URL) bool { return validUser(pathID(u)) }
	ordersOK := func(u *url.URL) bool { return validUser(u.Query().Get("user")) }
	return []Change{
		{ID: "user-tier", Route: "GET /users/{id}", Path: "body.user.tier", Kind: kValue,
			Description: `users with id%10 == 3 become "platinum" (a value that changes for some inputs only)`,
			affects: func(u *url.URL) bool {
				id, err := strconv.Atoi(pathID(u))
				return err == nil && validUser(pathID(u)) && tierChanges(id)
			}},
		{ID: "user-phone", Route: "GET /users/{id}", Path: "body.user.phone", Kind: kMiss,
			Description: "v2 no longer returns the phone number (a missing field)", affects: userOK},
		{ID: "user-locale", Route: "GET /users/{id}", Path: "body.user.locale", Kind: kExtra,
			Description: "v2 adds the user's locale (an extra field)", affects: userOK},
		{ID: "order-created-at", Route: "GET /orders", Path: "body.orders[].created_at", Kind: kType,
			Description: "order timestamps become epoch milliseconds (a timestamp that becomes a number)", affects: ordersOK},
		{ID: "catalog-price", Route: "GET /catalog/items", Path: "body.items[].price", Kind: kType,
			Description: `prices become strings ("19.99"; a type change)`, affects: validPage},
		{ID: "catalog-tags", Route: "GET /catalog/items", Path: "body.items[].tags", Kind: kLength,
			Consequences: []string{"body.items[].tags[]"},
			Description:  `every third item gets an "eco" tag (an array that changes length)`, affects: validPage},
		{ID: "catalog-cache-control", Route: "GET /catalog/items", Path: "headers.cache-control", Kind: kHeader,
			Description: `cache-control "public, max-age=60" becomes "no-cache" (a changed header)`, affects: validPage},
		{ID: "legacy-status", Route: "GET /legacy", Path: "status", Kind: kStatus,
			Description: "the legacy text endpoint answers 404 instead of 200 (same body)",
			affects:     func(*url.URL) bool { return true }},
		{ID: "export-schema", Route: "GET /export", Path: "body.schema_version", Kind: kValue,
			Description: "the gzip-compressed export's schema_version goes from 1 to 2", affects: ordersOK},
	}
}

// NoiseFields lists the noise every variant carries.
func NoiseFields() []Noise {
	var ns []Noise
	ns = append(ns,
		Noise{Path: "headers.x-served-by", Kinds: []shadowdiffv1.DiffKind{kHeader, kValue},
			Description: "the instance name"},
		Noise{Path: "headers.x-backend-trace", Kinds: []shadowdiffv1.DiffKind{kHeader, kValue},
			Description: "a random trace id per response"},
	)
	for _, r := range []string{"GET /users/{id}", "PUT /users/{id}", "GET /orders", "POST /orders", "GET /catalog/items", "GET /report"} {
		ns = append(ns, Noise{Route: r, Path: "body.meta", Kinds: []shadowdiffv1.DiffKind{kValue},
			Description: "request_id (uuid), served_at (RFC 3339 now), host (per instance), counter (per-instance request counter)"})
	}
	ns = append(ns,
		Noise{Route: "GET /users/{id}", Path: "body.user.roles", Kinds: []shadowdiffv1.DiffKind{kOrder, kValue},
			Description: "roles in random order"},
		Noise{Route: "GET /catalog/items", Path: "body.featured", Kinds: []shadowdiffv1.DiffKind{kOrder, kValue},
			Description: "featured SKUs in random order"},
		Noise{Route: "GET /health", Path: "body.time", Kinds: []shadowdiffv1.DiffKind{kValue}, Description: "RFC 3339 now"},
		Noise{Route: "GET /health", Path: "body.host", Kinds: []shadowdiffv1.DiffKind{kValue}, Description: "per instance"},
		Noise{Route: "GET /export", Path: "body.exported_at", Kinds: []shadowdiffv1.DiffKind{kValue}, Description: "RFC 3339 now"},
		Noise{Route: "GET /export", Path: "body.export_id", Kinds: []shadowdiffv1.DiffKind{kValue}, Description: "uuid"},
		Noise{Route: "POST /orders", Path: "body.order.id", Kinds: []shadowdiffv1.DiffKind{kValue}, Description: "from the per-instance counter"},
		Noise{Route: "POST /orders", Path: "body.order.created_at", Kinds: []shadowdiffv1.DiffKind{kValue}, Description: "RFC 3339 now"},
		Noise{Route: "POST /orders", Path: "headers.location", Kinds: []shadowdiffv1.DiffKind{kHeader, kValue}, Description: "from the per-instance counter"},
	)
	return ns
}

// Endpoint is one route of the service.
type Endpoint struct {
	Route string
	// SideEffect: not GET/HEAD/OPTIONS, so the filter answers mirrored
	// copies locally and the shadow instances never see them.
	SideEffect bool
	// Changes are the IDs of the changes v2 carries on this route; routes
	// without any must be reported clean.
	Changes []string
}

// Routes of the service, excluding GET /__stats.
var routes = []string{
	"GET /users/{id}", "PUT /users/{id}", "GET /orders", "POST /orders", "DELETE /orders/{id}",
	"GET /catalog/items", "GET /health", "GET /report", "GET /export", "GET /avatar/{id}", "GET /legacy",
}

// Endpoints lists every route with its changes.
func Endpoints() []Endpoint {
	changes := Changes()
	eps := make([]Endpoint, 0, len(routes))
	for _, r := range routes {
		method, _, _ := strings.Cut(r, " ")
		ep := Endpoint{Route: r, SideEffect: method != http.MethodGet}
		for _, c := range changes {
			if c.Route == r {
				ep.Changes = append(ep.Changes, c.ID)
			}
		}
		eps = append(eps, ep)
	}
	return eps
}

// Route returns the route ("GET /users/{id}") a method and URL path reach,
// or "" when none does.
func Route(method, path string) string {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	for _, r := range routes {
		m, tmpl, _ := strings.Cut(r, " ")
		if m != method {
			continue
		}
		ts := strings.Split(strings.Trim(tmpl, "/"), "/")
		if len(ts) != len(seg) {
			continue
		}
		ok := true
		for i, t := range ts {
			if !strings.HasPrefix(t, "{") && t != seg[i] {
				ok = false
				break
			}
		}
		if ok {
			return r
		}
	}
	return ""
}

// IsNoise reports whether path on route is covered by a noise field.
func IsNoise(route, path string) bool {
	for _, n := range NoiseFields() {
		if (n.Route == "" || n.Route == route) && covers(n.Path, path) {
			return true
		}
	}
	return false
}

// Explained reports whether a difference on path of route is accounted for
// by the injected changes (their paths, consequences, and the ancestors of
// those, whose hashes cover their children) or by noise (likewise). A
// reported regression that is not Explained is a false positive.
func Explained(route, path string) bool {
	var paths []string
	for _, c := range Changes() {
		if c.Route == route {
			paths = append(paths, c.Path)
			paths = append(paths, c.Consequences...)
		}
	}
	for _, n := range NoiseFields() {
		if n.Route == "" || n.Route == route {
			paths = append(paths, n.Path)
		}
	}
	return slices.ContainsFunc(paths, func(p string) bool { return covers(p, path) || isAncestor(path, p) })
}

// covers: prefix is path itself or one of its ancestors.
func covers(prefix, path string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+".") || strings.HasPrefix(path, prefix+"[")
}

// isAncestor: a is a strict ancestor of p ("body" of "body.user.tier").
func isAncestor(a, p string) bool { return a != p && covers(a, p) }

// ManifestJSON is the machine-readable form of Changes and NoiseFields
// (`sampleapp --print-manifest`), with kinds by their proto enum names.
type ManifestJSON struct {
	Changes []ChangeJSON `json:"changes"`
	Noise   []NoiseJSON  `json:"noise"`
}

type ChangeJSON struct {
	ID           string   `json:"id"`
	Route        string   `json:"route"`
	Path         string   `json:"path"`
	Kind         string   `json:"kind"`
	Consequences []string `json:"consequences,omitempty"`
	Description  string   `json:"description"`
}

type NoiseJSON struct {
	Route       string   `json:"route,omitempty"`
	Path        string   `json:"path"`
	Kinds       []string `json:"kinds"`
	Description string   `json:"description"`
}

// Manifest returns Changes and NoiseFields in their JSON form.
func Manifest() ManifestJSON {
	var m ManifestJSON
	for _, c := range Changes() {
		m.Changes = append(m.Changes, ChangeJSON{c.ID, c.Route, c.Path, c.Kind.String(), c.Consequences, c.Description})
	}
	for _, n := range NoiseFields() {
		nj := NoiseJSON{Route: n.Route, Path: n.Path, Description: n.Description}
		for _, k := range n.Kinds {
			nj.Kinds = append(nj.Kinds, k.String())
		}
		m.Noise = append(m.Noise, nj)
	}
	return m
}

// EndpointRules map the service's paths onto its route names ("GET
// /users/{id}"), so that after creating them in the collector
// (Query.CreateEndpointRule) its endpoint keys equal the Route of Changes,
// NoiseFields and Endpoints, whatever its own templating would have named
// them. The route templates use the rules' pattern syntax ("{name}" is one
// segment).
func EndpointRules() []*shadowdiffv1.EndpointRule {
	rules := make([]*shadowdiffv1.EndpointRule, 0, len(routes))
	for _, r := range routes {
		method, tmpl, _ := strings.Cut(r, " ")
		rules = append(rules, &shadowdiffv1.EndpointRule{Method: method, PathPattern: tmpl, Endpoint: r})
	}
	return rules
}
