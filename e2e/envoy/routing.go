package envoy

import (
	"sort"
	"strings"

	"github.com/shadowdiff/shadowdiff/e2e/httpfilter"
)

// routeTable selects a virtual host and a route like Envoy's RouteMatcher.
type routeTable struct {
	exact    map[string]*VirtualHost
	suffixes []wildcard // "*.example.com", longest first
	prefixes []wildcard // "example.*", longest first
	fallback *VirtualHost
}

type wildcard struct {
	fixed string
	vh    *VirtualHost
}

func newRouteTable(rc *RouteConfig) *routeTable {
	t := &routeTable{exact: map[string]*VirtualHost{}}
	for _, vh := range rc.VirtualHosts {
		for _, d := range vh.Domains {
			switch {
			case d == "*":
				if t.fallback == nil {
					t.fallback = vh
				}
			case strings.HasPrefix(d, "*"):
				t.suffixes = append(t.suffixes, wildcard{d[1:], vh})
			case strings.HasSuffix(d, "*"):
				t.prefixes = append(t.prefixes, wildcard{d[:len(d)-1], vh})
			default:
				if _, dup := t.exact[d]; !dup {
					t.exact[d] = vh
				}
			}
		}
	}
	longestFirst := func(w []wildcard) {
		sort.SliceStable(w, func(i, j int) bool { return len(w[i].fixed) > len(w[j].fixed) })
	}
	longestFirst(t.suffixes)
	longestFirst(t.prefixes)
	return t
}

// virtualHost finds the virtual host of an authority: exact match, then
// suffix wildcards, then prefix wildcards (a wildcard matches at least one
// character), then "*".
func (t *routeTable) virtualHost(authority string) *VirtualHost {
	host := strings.ToLower(authority)
	if vh, ok := t.exact[host]; ok {
		return vh
	}
	for _, w := range t.suffixes {
		if len(host) > len(w.fixed) && strings.HasSuffix(host, w.fixed) {
			return w.vh
		}
	}
	for _, w := range t.prefixes {
		if len(host) > len(w.fixed) && strings.HasPrefix(host, w.fixed) {
			return w.vh
		}
	}
	return t.fallback
}

// match returns the virtual host and the first matching route, or nils.
func (t *routeTable) match(h *httpfilter.Headers) (*VirtualHost, *Route) {
	authority, _ := h.Get(":authority")
	vh := t.virtualHost(authority)
	if vh == nil {
		return nil, nil
	}
	path, _ := h.Get(":path")
	for _, r := range vh.Routes {
		if r.Match.matches(path, h) {
			return vh, r
		}
	}
	return vh, nil
}

func (m *RouteMatch) matches(path string, h *httpfilter.Headers) bool {
	bare := path
	if i := strings.IndexAny(bare, "?#"); i >= 0 {
		bare = bare[:i]
	}
	switch m.Kind {
	case MatchPrefix:
		if m.CaseSensitive {
			if !strings.HasPrefix(path, m.Prefix) {
				return false
			}
		} else if len(path) < len(m.Prefix) || !strings.EqualFold(path[:len(m.Prefix)], m.Prefix) {
			return false
		}
	case MatchPath:
		if m.CaseSensitive && bare != m.Path || !m.CaseSensitive && !strings.EqualFold(bare, m.Path) {
			return false
		}
	case MatchRegex:
		if !m.Regex.MatchString(bare) {
			return false
		}
	}
	for i := range m.Headers {
		if !m.Headers[i].matches(h) {
			return false
		}
	}
	return true
}

// matches applies one header matcher to all values of the header joined by
// ",", as Envoy does.
func (hm *HeaderMatch) matches(h *httpfilter.Headers) bool {
	var values []string
	for _, f := range h.Fields {
		if f.Name == hm.Name {
			values = append(values, f.Value)
		}
	}
	present := len(values) > 0
	var ok bool
	if hm.Kind == "present" {
		ok = present == hm.Present
	} else if present {
		v, want := strings.Join(values, ","), hm.Value
		if hm.IgnoreCase {
			v, want = strings.ToLower(v), strings.ToLower(want)
		}
		switch hm.Kind {
		case "exact":
			ok = v == want
		case "prefix":
			ok = strings.HasPrefix(v, want)
		case "suffix":
			ok = strings.HasSuffix(v, want)
		case "contains":
			ok = strings.Contains(v, want)
		}
	}
	if hm.Invert {
		// Envoy: invert_match never matches an absent header unless present_match says so.
		if hm.Kind != "present" && !present {
			return false
		}
		return !ok
	}
	return ok
}

// rewritePath applies a route's prefix_rewrite to :path.
func (r *Route) rewritePath(path string) string {
	if r.PrefixRewrite == "" {
		return path
	}
	switch r.Match.Kind {
	case MatchPrefix:
		return r.PrefixRewrite + path[len(r.Match.Prefix):]
	case MatchPath:
		rest := ""
		if i := strings.IndexAny(path, "?#"); i >= 0 {
			rest = path[i:]
		}
		return r.PrefixRewrite + rest
	}
	return path
}
