package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	overflow     bool // the method's overflow endpoint: past the cap
}

// templateSegs collapses numeric, UUID and long hex (>= 16) segments to
// "{id}", in place: "/users/42/orders/9f1c..." -> "/users/{id}/orders/{id}".
func templateSegs(segs []string) {
	for i, s := range segs {
		if isIDSegment(s) {
			segs[i] = idPlaceholder
		}
	}
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

// match reports whether the rule covers method and a path's segments
// (without the leading empty one).
func (r *endpointRule) match(method string, segs []string) bool {
	return r.covers(method, segs, isIDSegment)
}

// covers is match for segments whose ids isID tells apart: raw ids in a
// path, "{id}" in a templated one (supersededBy).
func (r *endpointRule) covers(method string, segs []string, isID func(string) bool) bool {
	if r.rule.Method != "" && !strings.EqualFold(r.rule.Method, method) {
		return false
	}
	if len(segs) < len(r.segs) || (!r.rest && len(segs) != len(r.segs)) {
		return false
	}
	for i, p := range r.segs {
		switch {
		case !strings.HasPrefix(p, "{"):
			if p != segs[i] {
				return false
			}
		case r.rule.Learned && p == idPlaceholder:
			// A learned rule keeps the segments templating made "{id}":
			// they match what templating would collapse, not anything
			// ("/users/{slug}/orders/{id}" is not "/users/x/orders/export").
			if !isID(segs[i]) {
				return false
			}
		case r.rule.Learned && p == learnedPlaceholder:
			// And its "{slug}" was learned from values templating left
			// alone: ids keep their endpoint ("/users/42" stays
			// "GET /users/{id}" when "/users/{slug}" is learned).
			if isID(segs[i]) {
				return false
			}
		}
	}
	return true
}

// supersededBy says whether an endpoint gets no more requests because of
// the rules: one named by templating whose paths a rule names now; one a
// rule named that a more specific rule overrides (a user's over a learned
// one); or one a rule named that no rule names any more (deleted). It
// returns the rule's id (or what stands for it) and why, else "".
func (m *endpointMapper) supersededBy(key, method, template string) (id, why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	segs := strings.Split(template, "/")[1:]
	var best *endpointRule
	if key != method+" "+template || slices.Contains(segs, learnedPlaceholder) {
		// Named by a rule (a learned one's name is its pattern): by
		// which, and is a more specific one naming its paths now?
		var own *endpointRule
		for _, r := range m.rules {
			if r.rule.Endpoint == key {
				own = r
				break
			}
		}
		if own == nil {
			return "(deleted rule)", fmt.Sprintf("orphaned: the endpoint rule that named it (pattern %s) is gone, so its requests keep this name until they age out (--retention) or are cleared", template)
		}
		for _, r := range m.rules {
			if r != own && r.rule.Endpoint != key && r.covers(method, own.segs, isIDPlaceholder) && r.rest == own.rest && r.moreSpecific(own) &&
				(best == nil || r.moreSpecific(best)) {
				best = r
			}
		}
	} else {
		// Named by templating (a raw path may hold "{" or "**" too).
		for _, r := range m.rules {
			if r.covers(method, segs, isIDPlaceholder) && (best == nil || r.moreSpecific(best)) {
				best = r
			}
		}
	}
	if best == nil || best.rule.Endpoint == key {
		return "", ""
	}
	id, origin := best.rule.Id, "added"
	if id == "" { // learned by a query, stored by the loop in a moment
		id = "(learned) " + best.rule.PathPattern
	}
	if best.rule.Learned {
		origin = "learned"
	}
	return id, fmt.Sprintf("superseded: its paths are counted under %q since endpoint rule %s was %s; these requests came before and keep this name until they age out (--retention) or are cleared",
		best.rule.Endpoint, id, origin)
}

// isIDPlaceholder is what an id looks like in a templated path.
func isIDPlaceholder(s string) bool { return s == idPlaceholder }

// moreSpecific orders matching rules: more literal segments, then exact
// length over "**", then a user's rule over a learned one, then a method
// over any method; ties keep creation order.
func (r *endpointRule) moreSpecific(o *endpointRule) bool {
	if r.literals != o.literals {
		return r.literals > o.literals
	}
	if r.rest != o.rest {
		return !r.rest
	}
	if r.rule.Learned != o.rule.Learned {
		return !r.rule.Learned // a user's rule is how the user corrects a learned one
	}
	return r.rule.Method != "" && o.rule.Method == ""
}

// overflowPath is the path template of the overflow endpoints.
const overflowPath = "{other}"

// overflowReason is why an overflow endpoint is never judged: a verdict on
// unrelated paths together would hide a regression or invent one.
const overflowReason = "requests to new paths once the collector knew --max-endpoints endpoints: unrelated paths together, so never judged; name them with endpoint rules or raise --max-endpoints"

// standardMethods get an overflow endpoint each; other methods share one.
var standardMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"PATCH": true, "OPTIONS": true, "TRACE": true, "CONNECT": true}

// overflowInfo is the endpoint of requests to new endpoints past the
// cap: "GET {other}", or "* {other}" for a method outside the standard ones.
func overflowInfo(method string) endpointInfo {
	if !standardMethods[method] {
		method = "*"
	}
	return endpointInfo{key: method + " " + overflowPath, method: method, pathTemplate: overflowPath, overflow: true}
}

// mapperConfig configures an endpointMapper.
type mapperConfig struct {
	// maxEndpoints caps the endpoints named by templating (0: no cap).
	// Rules' endpoints are always counted under their names: they are
	// few, and a rule is how a user gets out of the cap.
	maxEndpoints int
	// learnThreshold: distinct values that make a segment a learned
	// parameter (0: no learning).
	learnThreshold int
	// learned is called, with the mapper's lock held, when a rule was
	// learned: it is in force and waits in unsaved to be stored.
	learned func()
	log     *slog.Logger
}

// endpointMapper names the endpoint of a request. It is safe under the
// engine's read lock; its state has its own lock. The aggregates it
// counts endpoints in change only under the engine's write lock.
type endpointMapper struct {
	cfg  mapperConfig
	aggs *aggregates

	mu    sync.Mutex
	rules []*endpointRule // creation order; the unsaved learned ones last
	cache map[[2]string]endpointInfo
	// reserved: templated endpoints admitted under the cap whose first
	// request has not been counted in aggs yet. Forgotten with the
	// cache, so that every cached endpoint is in aggs or reserved.
	reserved map[string]struct{}

	learner *paramLearner // nil: no learning
	unsaved []*endpointRule
	// deleted: method + " " + pattern of learned rules users deleted.
	deleted map[string]bool
	// learned: learned rules in rules; learning stops at maxLearnedRules.
	learned     int
	warnedRules bool
	// rulesGen counts changes to rules: views that name a superseding
	// rule are cached under it (overview.go).
	rulesGen uint64
}

const maxEndpointCache = 16384

func newEndpointMapper(cfg mapperConfig, aggs *aggregates) *endpointMapper {
	m := &endpointMapper{cfg: cfg, aggs: aggs, cache: map[[2]string]endpointInfo{}, reserved: map[string]struct{}{}, deleted: map[string]bool{}}
	if cfg.learnThreshold > 0 {
		m.learner = newParamLearner(cfg.learnThreshold)
	}
	if m.cfg.log == nil {
		m.cfg.log = slog.New(slog.DiscardHandler)
	}
	return m
}

// setRules replaces the stored rules (the learned rules not stored yet
// stay) and the learned rules users deleted.
func (m *endpointMapper) setRules(rules []*endpointRule, deleted []*shadowdiffv1.EndpointRule) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rules = slices.Concat(rules, m.unsaved)
	m.rulesGen++
	m.learned = 0
	for _, r := range m.rules {
		if r.rule.Learned {
			m.learned++
		}
	}
	m.warnedRules = m.warnedRules && m.learned >= maxLearnedRules
	clear(m.deleted)
	for _, r := range deleted {
		m.deleted[r.Method+" "+r.PathPattern] = true
	}
	m.forgetLocked()
}

// forget drops the cache: after endpoints left the aggregates, their
// paths must be admitted again.
func (m *endpointMapper) forget() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgetLocked()
}

func (m *endpointMapper) forgetLocked() {
	clear(m.cache)
	clear(m.reserved)
}

// of returns the endpoint of a digest: a matching rule's endpoint, else
// "METHOD /templated/path", or the method's overflow endpoint when that
// would be a new endpoint past the cap. The route name is kept as an
// attribute. Only paths not in the cache cost more than a map lookup.
func (m *endpointMapper) of(d *shadowdiffv1.ResponseDigest) endpointInfo {
	method, path := d.GetEndpoint().GetMethod(), d.GetEndpoint().GetPath()
	if method == "" {
		method = d.GetRequest().GetMethod()
	}
	if path == "" {
		path = d.GetRequest().GetPath()
	}
	info := m.cached(strings.ToUpper(method), path)
	if !info.overflow {
		info.routeName = d.GetEndpoint().GetRouteName()
	}
	return info
}

// cached returns the endpoint of a method and path, resolved once. It
// unlocks by defer: it runs while a batch is built, whose panics are
// recovered (Engine.buildLocked), and must not leave the mapper locked.
func (m *endpointMapper) cached(method, path string) endpointInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	if info, ok := m.cache[[2]string{method, path}]; ok {
		return info
	}
	// Copies: a digest's strings may share one allocation with the rest
	// of it (collector/server's decoder), which the cache would otherwise
	// keep alive.
	ck := [2]string{strings.Clone(method), strings.Clone(path)}
	info := m.resolve(ck[0], ck[1]) // its strings are built anew or are ck's
	if len(m.cache) >= maxEndpointCache {
		m.forgetLocked()
	}
	m.cache[ck] = info
	return info
}

// resolve names a path that is not in the cache: by the most specific
// matching rule, else by templating, which may teach a rule.
func (m *endpointMapper) resolve(method, path string) endpointInfo {
	segs := strings.Split(path, "/")[1:]
	if best := m.match(method, segs); best != nil {
		return endpointInfo{key: best.rule.Endpoint, method: method, pathTemplate: best.rule.PathPattern}
	}
	templateSegs(segs)
	if r := m.learn(method, segs); r != nil {
		return endpointInfo{key: r.rule.Endpoint, method: method, pathTemplate: r.rule.PathPattern}
	}
	t := "/" + strings.Join(segs, "/")
	key := method + " " + t
	if !m.admit(key) {
		return overflowInfo(method)
	}
	return endpointInfo{key: key, method: method, pathTemplate: t}
}

func (m *endpointMapper) match(method string, segs []string) *endpointRule {
	var best *endpointRule
	for _, r := range m.rules {
		if r.match(method, segs) && (best == nil || r.moreSpecific(best)) {
			best = r
		}
	}
	return best
}

// admit reports whether a templated endpoint may be counted under its own
// name: it is known, or fewer than maxEndpoints are (reserving it).
func (m *endpointMapper) admit(key string) bool {
	if m.cfg.maxEndpoints <= 0 || m.aggs.eps[key] != nil {
		return true
	}
	if _, ok := m.reserved[key]; ok {
		return true
	}
	if len(m.aggs.eps)+len(m.reserved) >= m.cfg.maxEndpoints {
		// Reservations whose endpoint has results now count twice.
		for k := range m.reserved {
			if m.aggs.eps[k] != nil {
				delete(m.reserved, k)
			}
		}
		if len(m.aggs.eps)+len(m.reserved) >= m.cfg.maxEndpoints {
			return false
		}
	}
	m.reserved[key] = struct{}{}
	return true
}

// learn shows the learner a templated path no rule matched; when a
// position passes the threshold it makes the rule, puts it in force (the
// cache is dropped: cached paths it covers must use it) and returns it.
func (m *endpointMapper) learn(method string, segs []string) *endpointRule {
	if m.learner == nil || !learnable(segs) {
		return nil
	}
	if m.learned >= maxLearnedRules {
		if !m.warnedRules {
			m.warnedRules = true
			m.cfg.log.Warn("endpoint rules: no more are learned", "learned_rules", m.learned,
				"hint", "delete learned rules that are not wanted (shadowdiff endpoint-rules delete), or add rules for the paths with parameters")
		}
		return nil
	}
	i := m.learner.observe(method, segs)
	if i < 0 {
		return nil
	}
	p := slices.Clone(segs)
	p[i] = learnedPlaceholder
	pattern := "/" + strings.Join(p, "/")
	r := &shadowdiffv1.EndpointRule{Method: method, PathPattern: pattern, Endpoint: method + " " + pattern, Learned: true}
	if m.deleted[method+" "+pattern] {
		return nil
	}
	er, err := parseEndpointRule(r)
	if err != nil { // an endpoint name too long
		m.cfg.log.Debug("endpoint rule not learned", "path_pattern", truncate(pattern, 200), "err", err)
		return nil
	}
	m.rules = append(m.rules, er)
	m.rulesGen++
	m.unsaved = append(m.unsaved, er)
	m.learned++
	m.forgetLocked()
	if m.cfg.learned != nil {
		m.cfg.learned()
	}
	return er
}

// rulesGeneration is the number of changes to the rules so far.
func (m *endpointMapper) rulesGeneration() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rulesGen
}

// takeUnsaved returns the learned rules not stored yet.
func (m *endpointMapper) takeUnsaved() []*endpointRule {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.unsaved)
}

// saved replaces a learned rule by its stored form (with its id) and
// takes it off unsaved.
func (m *endpointMapper) saved(er *endpointRule, stored *shadowdiffv1.EndpointRule) {
	m.mu.Lock()
	defer m.mu.Unlock()
	er.rule = stored
	m.rulesGen++ // its id is known now
	m.unsaved = slices.DeleteFunc(m.unsaved, func(u *endpointRule) bool { return u == er })
}
