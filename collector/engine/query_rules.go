package engine

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

const (
	maxCommentLen = 1024
	// suggestMinObservations: noise comparisons needed before a field is
	// offered as a rule.
	suggestMinObservations = 20
)

// validPrefix checks a query path prefix (of the request field named
// field) against the query path namespaces.
func validPrefix(field, p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%s: required", field)
	case len(p) > maxFieldPathLen:
		return fmt.Errorf("%s: longer than %d bytes", field, maxFieldPathLen)
	case !utf8.ValidString(p):
		return fmt.Errorf("%s: not valid UTF-8", field)
	case p == pathStatus || p == pathBody || p == pathTrailers || p == "headers":
		return nil
	case strings.HasPrefix(p, headerPrefix) && len(p) > len(headerPrefix):
		return nil
	case (strings.HasPrefix(p, pathBody+".") || strings.HasPrefix(p, pathBody+"[")) && !emptyMember(p[len(pathBody):]):
		return nil
	}
	return fmt.Errorf("%s: %q is not a query path (status, headers.<name>, body, body.<field>)", field, truncate(p, 80))
}

// lowerHeaderName lower-cases the header name of a "headers.<name>" path,
// as header names are case-insensitive and digests carry them lower-case:
// a rule or query for "headers.X-Trace" means "headers.x-trace".
func lowerHeaderName(p string) string {
	if name, ok := strings.CutPrefix(p, headerPrefix); ok {
		return headerPrefix + strings.ToLower(name)
	}
	return p
}

// emptyMember reports whether a body path suffix (".a.b", "[].c") names an
// empty member: a '.' that ends it or comes before another one. A member
// named "" is written `""`, and an escaped "\." is part of a name.
func emptyMember(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++ // the escaped character
		case '.':
			if i+1 == len(p) || p[i+1] == '.' || p[i+1] == '[' {
				return true
			}
		}
	}
	return false
}

func (q *queryServer) CreateNoiseRule(ctx context.Context, r *shadowdiffv1.CreateNoiseRuleRequest) (*shadowdiffv1.NoiseRule, error) {
	rule := r.GetRule()
	if rule == nil {
		return nil, status.Error(codes.InvalidArgument, "rule: required")
	}
	if err := validPrefix("rule.path_prefix", rule.PathPrefix); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if len(rule.Endpoint) > maxEndpointKeyLen || len(rule.Comment) > maxCommentLen {
		return nil, status.Errorf(codes.InvalidArgument, "rule: endpoint at most %d bytes, comment at most %d", maxEndpointKeyLen, maxCommentLen)
	}
	if !utf8.ValidString(rule.Endpoint) || !utf8.ValidString(rule.Comment) {
		return nil, status.Error(codes.InvalidArgument, "rule: endpoint and comment must be valid UTF-8")
	}
	e := q.e
	rule = proto.Clone(rule).(*shadowdiffv1.NoiseRule)
	rule.PathPrefix = lowerHeaderName(rule.PathPrefix)
	rule.Id = ""
	rule.Created = now(e)
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	var same string
	e.rlocked(func() {
		if i := slices.IndexFunc(e.noiseRules, func(o *shadowdiffv1.NoiseRule) bool {
			return o.Endpoint == rule.Endpoint && o.PathPrefix == rule.PathPrefix
		}); i >= 0 {
			same = e.noiseRules[i].Id
		}
	})
	if same != "" {
		where := "for this endpoint"
		if rule.Endpoint == "" {
			where = "on every endpoint"
		}
		return nil, status.Errorf(codes.AlreadyExists, "noise rule %s already marks %q as noise %s", same, truncate(rule.PathPrefix, 80), where)
	}
	stored, err := e.st.PutNoiseRule(rule)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "store rule: %v", err)
	}
	e.locked(func() {
		e.noiseRules = append(e.noiseRules, stored)
		e.noiseGen++
	})
	e.watch.poke()
	e.log.Info("noise rule created", "id", stored.Id, "endpoint", stored.Endpoint, "path_prefix", stored.PathPrefix)
	return stored, nil
}

func (q *queryServer) ListNoiseRules(ctx context.Context, r *shadowdiffv1.ListNoiseRulesRequest) (*shadowdiffv1.ListNoiseRulesResponse, error) {
	e := q.e
	e.mu.RLock()
	defer e.mu.RUnlock()
	if r.GetEndpoint() != "" && e.aggs.eps[r.Endpoint] == nil && !slices.ContainsFunc(e.noiseRules, func(n *shadowdiffv1.NoiseRule) bool { return n.Endpoint == r.Endpoint }) {
		return nil, status.Errorf(codes.NotFound, "endpoint %q not found", truncate(r.Endpoint, maxEndpointLen))
	}
	resp := &shadowdiffv1.ListNoiseRulesResponse{}
	for _, rule := range e.noiseRules {
		if r.GetEndpoint() == "" || rule.Endpoint == "" || rule.Endpoint == r.Endpoint {
			resp.Rules = append(resp.Rules, rule)
		}
	}
	var sums []*store.Bucket // each endpoint's, summed once for both steps
	for _, ea := range e.aggs.eps {
		if r.GetEndpoint() != "" && ea.key != r.Endpoint {
			continue
		}
		if sum, ok := ea.sum(rangeAll); ok {
			sums = append(sums, sum)
			resp.Suggested = append(resp.Suggested, e.suggestLocked(ea.key, sum)...)
		}
	}
	if r.GetEndpoint() == "" {
		resp.Suggested = mergeSuggestions(resp.Suggested, sums)
	}
	slices.SortFunc(resp.Suggested, func(a, b *shadowdiffv1.SuggestedNoiseRule) int {
		if c := strings.Compare(a.Rule.Endpoint, b.Rule.Endpoint); c != 0 {
			return c
		}
		return strings.Compare(a.Rule.PathPrefix, b.Rule.PathPrefix)
	})
	return resp, nil
}

// suggestLocked offers rules for the always-noisy fields of an endpoint
// (its results summed) that no rule covers yet.
func (e *Engine) suggestLocked(endpoint string, sum *store.Bucket) []*shadowdiffv1.SuggestedNoiseRule {
	var out []*shadowdiffv1.SuggestedNoiseRule
	for path, fc := range sum.Fields {
		if fc.NoiseSeen < suggestMinObservations || noiseClass(fc) != shadowdiffv1.NoiseClass_NOISE_CLASS_ALWAYS || e.ruleFor(endpoint, path) != "" {
			continue
		}
		source := "between primary and secondary"
		if fc.Diffs().Noise == 0 {
			source = "between repeated identical requests to the primary"
		}
		out = append(out, &shadowdiffv1.SuggestedNoiseRule{
			Rule:   &shadowdiffv1.NoiseRule{Endpoint: endpoint, PathPrefix: path, Comment: "suggested: always noisy"},
			Reason: fmt.Sprintf("differs %s in %s of %d requests", source, shareOf(fc.Diffs().Noise+fc.Diffs().Repeat, fc.NoiseSeen), fc.NoiseSeen),
		})
	}
	return out
}

// mergeSuggestions replaces the suggestions of a field always noisy on
// every endpoint that has it (two at least) with one rule for all
// endpoints: a header a proxy adds to every response was suggested once
// per endpoint. If any endpoint has the field, or a field under it, without
// suggesting it (too few noise observations, noise only sometimes, no
// secondary), the per-endpoint suggestions stay: a global rule would hide
// the field there, where nothing says it is noise.
// sums are the endpoints' results.
func mergeSuggestions(suggested []*shadowdiffv1.SuggestedNoiseRule, sums []*store.Bucket) []*shadowdiffv1.SuggestedNoiseRule {
	byPath := map[string][]*shadowdiffv1.SuggestedNoiseRule{}
	for _, s := range suggested {
		byPath[s.Rule.PathPrefix] = append(byPath[s.Rule.PathPrefix], s)
	}
	observed := map[string]int{} // endpoints with the path or a path under it
	for _, sum := range sums {
		// Each field's own path and the paths above it ("body.a[].b":
		// "body", "body.a", "body.a[]"...) that a group was suggested
		// for: fields x depth, not fields x groups.
		seen := map[string]bool{}
		for path := range sum.Fields {
			for i := 0; i <= len(path); i++ {
				if i < len(path) && path[i] != '.' && path[i] != '[' {
					continue
				}
				prefix := path[:i]
				if len(byPath[prefix]) >= 2 && !seen[prefix] && store.PathHasPrefix(path, prefix) {
					seen[prefix] = true
					observed[prefix]++
				}
			}
		}
	}
	out := suggested[:0:0]
	for _, s := range suggested {
		path := s.Rule.PathPrefix
		group := byPath[path]
		switch {
		case len(group) < 2 || observed[path] != len(group):
			out = append(out, s)
		case group[0] == s: // once per merged path
			out = append(out, &shadowdiffv1.SuggestedNoiseRule{
				Rule:   &shadowdiffv1.NoiseRule{PathPrefix: path, Comment: "suggested: always noisy on every endpoint"},
				Reason: fmt.Sprintf("always noisy on each of the %d endpoints that have it", len(group)),
			})
		}
	}
	return out
}

// shareOf is n/total as a percentage: whole when exact, else rounded down
// to one decimal, so that a share short of all (437 of 439) never reads
// "100 %", nor one above none "0 %".
func shareOf(n, total uint64) string {
	switch {
	case total == 0:
		return "0 %"
	case n*100%total == 0:
		return fmt.Sprintf("%d %%", n*100/total)
	}
	tenths := n * 1000 / total
	if tenths == 0 {
		return "< 0.1 %"
	}
	return fmt.Sprintf("%d.%d %%", tenths/10, tenths%10)
}

func (q *queryServer) DeleteNoiseRule(ctx context.Context, r *shadowdiffv1.DeleteNoiseRuleRequest) (*shadowdiffv1.DeleteNoiseRuleResponse, error) {
	if r.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "id: required")
	}
	e := q.e
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	found, err := e.st.DeleteNoiseRule(r.Id)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "delete rule: %v", err)
	}
	if !found {
		return nil, status.Errorf(codes.NotFound, "noise rule %q not found", truncate(r.Id, 80))
	}
	e.locked(func() {
		e.noiseRules = slices.DeleteFunc(e.noiseRules, func(n *shadowdiffv1.NoiseRule) bool { return n.Id == r.Id })
		e.noiseGen++
	})
	e.watch.poke()
	e.log.Info("noise rule deleted", "id", r.Id)
	return &shadowdiffv1.DeleteNoiseRuleResponse{}, nil
}

func (q *queryServer) CreateEndpointRule(ctx context.Context, r *shadowdiffv1.CreateEndpointRuleRequest) (*shadowdiffv1.EndpointRule, error) {
	if r.GetRule() == nil {
		return nil, status.Error(codes.InvalidArgument, "rule: required")
	}
	rule := proto.Clone(r.Rule).(*shadowdiffv1.EndpointRule)
	rule.Id, rule.Learned = "", false
	rule.Method = strings.ToUpper(rule.Method)
	if _, err := parseEndpointRule(rule); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	e := q.e
	rule.Created = now(e)
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	existing, err := e.st.EndpointRules()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "list rules: %v", err)
	}
	// The same method and pattern twice: the second could never name a
	// path (creation order breaks the tie), so it is refused, as a noise
	// rule given twice is. A learned one may stay: the user's wins over it.
	for _, o := range existing {
		if o.Method == rule.Method && samePattern(o.PathPattern, rule.PathPattern) && !o.Learned {
			return nil, status.Errorf(codes.AlreadyExists, "endpoint rule %s already names %s %s (as %q)", o.Id, cmp.Or(o.Method, "any method"), truncate(o.PathPattern, 80), o.Endpoint)
		}
	}
	stored, err := e.st.PutEndpointRule(rule)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "store rule: %v", err)
	}
	if err := e.reloadEndpointRules(); err != nil {
		return nil, status.Errorf(codes.Internal, "reload rules: %v", err)
	}
	e.log.Info("endpoint rule created", "id", stored.Id, "method", stored.Method, "path_pattern", stored.PathPattern, "endpoint", stored.Endpoint)
	return stored, nil
}

func (q *queryServer) ListEndpointRules(ctx context.Context, r *shadowdiffv1.ListEndpointRulesRequest) (*shadowdiffv1.ListEndpointRulesResponse, error) {
	rules, err := q.e.st.EndpointRules()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "list rules: %v", err)
	}
	return &shadowdiffv1.ListEndpointRulesResponse{Rules: rules}, nil
}

func (q *queryServer) DeleteEndpointRule(ctx context.Context, r *shadowdiffv1.DeleteEndpointRuleRequest) (*shadowdiffv1.DeleteEndpointRuleResponse, error) {
	if r.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "id: required")
	}
	e := q.e
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	found, err := e.st.DeleteEndpointRule(r.Id)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "delete rule: %v", err)
	}
	if !found {
		return nil, status.Errorf(codes.NotFound, "endpoint rule %q not found", truncate(r.Id, 80))
	}
	if err := e.reloadEndpointRules(); err != nil {
		return nil, status.Errorf(codes.Internal, "reload rules: %v", err)
	}
	e.log.Info("endpoint rule deleted", "id", r.Id)
	return &shadowdiffv1.DeleteEndpointRuleResponse{}, nil
}

// reloadEndpointRules applies the stored endpoint rules to new requests.
// Stored results keep the endpoint they were counted under. Call with
// writeMu held.
func (e *Engine) reloadEndpointRules() error { return e.loadEndpointRules(false) }

// loadEndpointRules gives the mapper the stored rules and the learned
// rules users deleted; warn logs the stored rules that do not parse.
func (e *Engine) loadEndpointRules(warn bool) error {
	rules, err := e.st.EndpointRules()
	if err != nil {
		return err
	}
	deleted, err := e.st.DeletedLearnedRules()
	if err != nil {
		return err
	}
	var parsed []*endpointRule
	for _, r := range rules {
		er, err := parseEndpointRule(r)
		switch {
		case err == nil:
			parsed = append(parsed, er)
		case warn:
			e.log.Warn("ignoring stored endpoint rule", "id", r.Id, "err", err)
		}
	}
	e.endpoints.setRules(parsed, deleted)
	return nil
}

// pokeLearned wakes the loop to store the rules just learned.
func (e *Engine) pokeLearned() {
	select {
	case e.learned <- struct{}{}:
	default:
	}
}

// saveLearned stores the endpoint rules the mapper learned. They are in
// force already; stored, they survive a restart and are listed. Ingest
// and expiry store the rules they learned themselves, before their
// batch; the loop stores those a query learned (it names endpoints too)
// and retries after a store error.
func (e *Engine) saveLearned() error {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	// Not rules learned by a build that failed: the state is reloaded
	// first.
	if _, err := e.prepareWrite(); err != nil {
		return err
	}
	e.saveLearnedLocked()
	return nil
}

// saveLearnedLocked is saveLearned with writeMu held.
func (e *Engine) saveLearnedLocked() {
	for _, er := range e.endpoints.takeUnsaved() {
		r := proto.Clone(er.rule).(*shadowdiffv1.EndpointRule)
		r.Created = now(e)
		stored, err := e.st.PutEndpointRule(r)
		if err != nil {
			e.met.storeErrors.Inc()
			e.log.Error("store a learned endpoint rule; it is in force and will be stored again", "path_pattern", r.PathPattern, "err", err)
			return
		}
		e.endpoints.saved(er, stored)
		e.met.rulesLearned.Inc()
		e.log.Info("endpoint rule learned", "id", stored.Id, "method", stored.Method, "path_pattern", stored.PathPattern,
			"endpoint", stored.Endpoint, "distinct_values", e.opts.AutoTemplateThreshold+1,
			"hint", "delete it (shadowdiff endpoint-rules delete "+stored.Id+") if the segment is not a parameter; it will not be learned again")
	}
}

// samePattern reports whether two path patterns match the same paths:
// equal but for the names of their placeholders ("/users/{user}" and
// "/users/{name}").
func samePattern(a, b string) bool {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	if len(as) != len(bs) {
		return false
	}
	for i := range as {
		placeholderA := strings.HasPrefix(as[i], "{") && strings.HasSuffix(as[i], "}")
		placeholderB := strings.HasPrefix(bs[i], "{") && strings.HasSuffix(bs[i], "}")
		if placeholderA != placeholderB || !placeholderA && as[i] != bs[i] {
			return false
		}
	}
	return true
}
