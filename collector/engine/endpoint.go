package engine

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// idPlaceholder replaces path segments that look like identifiers.
const idPlaceholder = "{id}"

// endpointInfo is what requests are grouped by.
type endpointInfo struct {
	key          string // "METHOD /templated/path", or a rule's endpoint
	method       string
	pathTemplate string
	routeName    string
}

// templatePath collapses numeric, UUID and long hex (>= 16) segments to
// "{id}": "/users/42/orders/9f1c..." -> "/users/{id}/orders/{id}".
func templatePath(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if isIDSegment(s) {
			segs[i] = idPlaceholder
		}
	}
	return strings.Join(segs, "/")
}

func isIDSegment(s string) bool {
	if s == "" {
		return false
	}
	digits, hex := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		isDigit := c >= '0' && c <= '9'
		digits = digits && isDigit
		hex = hex && (isDigit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
	}
	return digits || (hex && len(s) >= 16) || isUUID(s)
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// endpointRule is a parsed EndpointRule.
type endpointRule struct {
	rule     *shadowdiffv1.EndpointRule
	segs     []string // pattern segments without the trailing "**"
	rest     bool     // trailing "**"
	literals int
}

// parseEndpointRule validates a rule; errors name the offending field.
func parseEndpointRule(r *shadowdiffv1.EndpointRule) (*endpointRule, error) {
	if r == nil {
		return nil, errors.New("rule: required")
	}
	if r.Method != "" && !isToken(r.Method) {
		return nil, fmt.Errorf("rule.method: not an HTTP method: %q", r.Method)
	}
	switch {
	case !strings.HasPrefix(r.PathPattern, "/"):
		return nil, fmt.Errorf("rule.path_pattern: must start with \"/\": %q", truncate(r.PathPattern, 80))
	case len(r.PathPattern) > maxPathLen:
		return nil, fmt.Errorf("rule.path_pattern: longer than %d bytes", maxPathLen)
	case !utf8.ValidString(r.PathPattern):
		return nil, errors.New("rule.path_pattern: not valid UTF-8")
	case strings.TrimSpace(r.Endpoint) == "":
		return nil, errors.New("rule.endpoint: required")
	case len(r.Endpoint) > maxEndpointLen:
		return nil, fmt.Errorf("rule.endpoint: longer than %d bytes", maxEndpointLen)
	case !utf8.ValidString(r.Endpoint):
		return nil, errors.New("rule.endpoint: not valid UTF-8")
	}
	segs := strings.Split(r.PathPattern, "/")[1:]
	er := &endpointRule{rule: r}
	for i, s := range segs {
		switch {
		case s == "**" && i == len(segs)-1:
			er.rest = true
			continue
		case strings.Contains(s, "**"):
			return nil, fmt.Errorf("rule.path_pattern: \"**\" only as the last segment: %q", r.PathPattern)
		case strings.HasPrefix(s, "{") != strings.HasSuffix(s, "}"):
			return nil, fmt.Errorf("rule.path_pattern: unbalanced braces in segment %q", s)
		case !strings.HasPrefix(s, "{"):
			er.literals++
		}
		er.segs = append(er.segs, s)
	}
	return er, nil
}

// match reports whether the rule covers method and path.
func (r *endpointRule) match(method, path string) bool {
	if r.rule.Method != "" && !strings.EqualFold(r.rule.Method, method) {
		return false
	}
	segs := strings.Split(path, "/")[1:]
	if len(segs) < len(r.segs) || (!r.rest && len(segs) != len(r.segs)) {
		return false
	}
	for i, p := range r.segs {
		if !strings.HasPrefix(p, "{") && p != segs[i] {
			return false
		}
	}
	return true
}

// moreSpecific orders matching rules: more literal segments, then exact
// length over "**", then a method over any method; ties keep creation order.
func (r *endpointRule) moreSpecific(o *endpointRule) bool {
	if r.literals != o.literals {
		return r.literals > o.literals
	}
	if r.rest != o.rest {
		return !r.rest
	}
	return r.rule.Method != "" && o.rule.Method == ""
}

// endpointMapper names the endpoint of a request. setRules needs the
// engine's write lock; of is safe under its read lock.
type endpointMapper struct {
	rules   []*endpointRule // creation order
	cacheMu sync.Mutex
	cache   map[[2]string]endpointInfo
}

const maxEndpointCache = 16384

func newEndpointMapper() *endpointMapper {
	return &endpointMapper{cache: map[[2]string]endpointInfo{}}
}

func (m *endpointMapper) setRules(rules []*endpointRule) {
	m.cacheMu.Lock()
	defer m.cacheMu.Unlock()
	m.rules = rules
	clear(m.cache)
}

// of returns the endpoint of a digest: a matching rule's endpoint, else
// "METHOD /templated/path". The route name is kept as an attribute.
func (m *endpointMapper) of(d *shadowdiffv1.ResponseDigest) endpointInfo {
	method, path := d.GetEndpoint().GetMethod(), d.GetEndpoint().GetPath()
	if method == "" {
		method = d.GetRequest().GetMethod()
	}
	if path == "" {
		path = d.GetRequest().GetPath()
	}
	method = strings.ToUpper(method)
	ck := [2]string{method, path}
	m.cacheMu.Lock()
	info, ok := m.cache[ck]
	if !ok {
		// Copies: a digest's strings may share one allocation with the
		// rest of it (collector/server's decoder), which the cache
		// would otherwise keep alive.
		ck = [2]string{strings.Clone(method), strings.Clone(path)}
		info = m.lookup(ck[0], ck[1]) // its strings are built anew or are ck's
		if len(m.cache) >= maxEndpointCache {
			clear(m.cache)
		}
		m.cache[ck] = info
	}
	m.cacheMu.Unlock()
	info.routeName = d.GetEndpoint().GetRouteName()
	return info
}

func (m *endpointMapper) lookup(method, path string) endpointInfo {
	var best *endpointRule
	for _, r := range m.rules {
		if r.match(method, path) && (best == nil || r.moreSpecific(best)) {
			best = r
		}
	}
	if best != nil {
		return endpointInfo{key: best.rule.Endpoint, method: method, pathTemplate: best.rule.PathPattern}
	}
	t := templatePath(path)
	return endpointInfo{key: method + " " + t, method: method, pathTemplate: t}
}
