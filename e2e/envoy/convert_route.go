package envoy

import (
	"regexp"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

func convertRouteConfig(path string, rc *routev3.RouteConfiguration, clusters map[string]bool) (*RouteConfig, error) {
	if err := onlyFields(path, rc, "name", "virtual_hosts", "request_mirror_policies"); err != nil {
		return nil, err
	}
	out := &RouteConfig{Name: rc.GetName()}
	var err error
	if out.Mirrors, err = convertMirrors(field(path, "request_mirror_policies"), rc.GetRequestMirrorPolicies(), clusters); err != nil {
		return nil, err
	}
	for i, vh := range rc.GetVirtualHosts() {
		p := index(field(path, "virtual_hosts"), i)
		v, err := convertVirtualHost(p, vh, clusters, out.Mirrors)
		if err != nil {
			return nil, err
		}
		out.VirtualHosts = append(out.VirtualHosts, v)
	}
	return out, nil
}

func convertVirtualHost(path string, vh *routev3.VirtualHost, clusters map[string]bool, inherited []*MirrorPolicy) (*VirtualHost, error) {
	if err := onlyFields(path, vh, "name", "domains", "routes", "request_mirror_policies"); err != nil {
		return nil, err
	}
	v := &VirtualHost{Name: vh.GetName()}
	for i, d := range vh.GetDomains() {
		if strings.Count(d, "*") > 1 || (strings.Contains(d, "*") && d != "*" && !strings.HasPrefix(d, "*") && !strings.HasSuffix(d, "*")) {
			return nil, pathErrorf(index(field(path, "domains"), i), "wildcard %q must be \"*\", a prefix or a suffix", d)
		}
		v.Domains = append(v.Domains, strings.ToLower(d))
	}
	var err error
	if v.Mirrors, err = convertMirrors(field(path, "request_mirror_policies"), vh.GetRequestMirrorPolicies(), clusters); err != nil {
		return nil, err
	}
	if len(v.Mirrors) == 0 {
		v.Mirrors = inherited
	}
	for i, r := range vh.GetRoutes() {
		rt, err := convertRoute(index(field(path, "routes"), i), r, clusters, v.Mirrors)
		if err != nil {
			return nil, err
		}
		v.Routes = append(v.Routes, rt)
	}
	return v, nil
}

func convertRoute(path string, r *routev3.Route, clusters map[string]bool, inherited []*MirrorPolicy) (*Route, error) {
	if err := onlyFields(path, r, "name", "match", "route"); err != nil {
		return nil, err
	}
	out := &Route{Name: r.GetName(), Timeout: defaultRouteTimeout}
	if err := convertMatch(field(path, "match"), r.GetMatch(), &out.Match); err != nil {
		return nil, err
	}
	a := r.GetRoute()
	ap := field(path, "route")
	if a == nil {
		return nil, pathErrorf(path, "a route action (route.cluster) is required")
	}
	if err := onlyFields(ap, a, "cluster", "timeout", "prefix_rewrite", "request_mirror_policies"); err != nil {
		return nil, err
	}
	if a.GetCluster() == "" {
		return nil, pathErrorf(field(ap, "cluster"), "required")
	}
	if !clusters[a.GetCluster()] {
		return nil, pathErrorf(field(ap, "cluster"), "unknown cluster %q", a.GetCluster())
	}
	out.Cluster = a.GetCluster()
	if a.GetTimeout() != nil {
		out.Timeout = a.GetTimeout().AsDuration()
	}
	out.PrefixRewrite = a.GetPrefixRewrite()
	if out.PrefixRewrite != "" && out.Match.Kind == MatchRegex {
		return nil, pathErrorf(field(ap, "prefix_rewrite"), "not supported with a safe_regex match")
	}
	var err error
	if out.Mirrors, err = convertMirrors(field(ap, "request_mirror_policies"), a.GetRequestMirrorPolicies(), clusters); err != nil {
		return nil, err
	}
	if len(out.Mirrors) == 0 {
		out.Mirrors = inherited
	}
	return out, nil
}

func convertMatch(path string, m *routev3.RouteMatch, out *RouteMatch) error {
	if err := onlyFields(path, m, "prefix", "path", "safe_regex", "headers", "case_sensitive"); err != nil {
		return err
	}
	out.CaseSensitive = m.GetCaseSensitive() == nil || m.GetCaseSensitive().GetValue()
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		out.Kind, out.Prefix = MatchPrefix, ps.Prefix
	case *routev3.RouteMatch_Path:
		out.Kind, out.Path = MatchPath, ps.Path
	case *routev3.RouteMatch_SafeRegex:
		re, err := compileRegex(field(path, "safe_regex"), ps.SafeRegex, !out.CaseSensitive)
		if err != nil {
			return err
		}
		out.Kind, out.Regex = MatchRegex, re
	default:
		return pathErrorf(path, "one of prefix, path or safe_regex is required")
	}
	for i, h := range m.GetHeaders() {
		hm, err := convertHeaderMatch(index(field(path, "headers"), i), h)
		if err != nil {
			return err
		}
		out.Headers = append(out.Headers, hm)
	}
	return nil
}

// compileRegex compiles an RE2 pattern anchored on both ends, as Envoy's
// safe_regex matches the whole value.
func compileRegex(path string, rm *matcherv3.RegexMatcher, ignoreCase bool) (*regexp.Regexp, error) {
	if err := onlyFields(path, rm, "regex", "google_re2"); err != nil {
		return nil, err
	}
	if g := rm.GetGoogleRe2(); g != nil {
		if err := onlyFields(field(path, "google_re2"), g); err != nil {
			return nil, err
		}
	}
	expr := "^(?:" + rm.GetRegex() + ")$"
	if ignoreCase {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, pathErrorf(field(path, "regex"), "%w", err)
	}
	return re, nil
}

func convertHeaderMatch(path string, h *routev3.HeaderMatcher) (HeaderMatch, error) {
	if err := onlyFields(path, h, "name", "string_match", "present_match", "invert_match"); err != nil {
		return HeaderMatch{}, err
	}
	out := HeaderMatch{Name: strings.ToLower(h.GetName()), Invert: h.GetInvertMatch()}
	switch spec := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_PresentMatch:
		out.Kind, out.Present = "present", spec.PresentMatch
	case *routev3.HeaderMatcher_StringMatch:
		sp := field(path, "string_match")
		sm := spec.StringMatch
		if err := onlyFields(sp, sm, "exact", "prefix", "suffix", "contains", "ignore_case"); err != nil {
			return HeaderMatch{}, err
		}
		out.IgnoreCase = sm.GetIgnoreCase()
		switch p := sm.GetMatchPattern().(type) {
		case *matcherv3.StringMatcher_Exact:
			out.Kind, out.Value = "exact", p.Exact
		case *matcherv3.StringMatcher_Prefix:
			out.Kind, out.Value = "prefix", p.Prefix
		case *matcherv3.StringMatcher_Suffix:
			out.Kind, out.Value = "suffix", p.Suffix
		case *matcherv3.StringMatcher_Contains:
			out.Kind, out.Value = "contains", p.Contains
		}
	default:
		// Envoy: a matcher with no specifier matches when the header is present.
		out.Kind, out.Present = "present", true
	}
	return out, nil
}

var denominators = map[typev3.FractionalPercent_DenominatorType]uint64{
	typev3.FractionalPercent_HUNDRED:      100,
	typev3.FractionalPercent_TEN_THOUSAND: 10_000,
	typev3.FractionalPercent_MILLION:      1_000_000,
}

func convertMirrors(path string, ps []*routev3.RouteAction_RequestMirrorPolicy, clusters map[string]bool) ([]*MirrorPolicy, error) {
	var out []*MirrorPolicy
	for i, p := range ps {
		pp := index(path, i)
		if err := onlyFields(pp, p, "cluster", "runtime_fraction", "trace_sampled",
			"disable_shadow_host_suffix_append", "host_rewrite_literal"); err != nil {
			return nil, err
		}
		// Envoy requires exactly one of cluster and cluster_header; only cluster is supported.
		if p.GetCluster() == "" {
			return nil, pathErrorf(field(pp, "cluster"), "required")
		}
		if !clusters[p.GetCluster()] {
			return nil, pathErrorf(field(pp, "cluster"), "unknown cluster %q", p.GetCluster())
		}
		m := &MirrorPolicy{Cluster: p.GetCluster(), Numerator: 100, Denominator: 100,
			DisableShadowSuffix: p.GetDisableShadowHostSuffixAppend(), HostRewrite: p.GetHostRewriteLiteral()}
		if rf := p.GetRuntimeFraction(); rf != nil {
			fp := field(pp, "runtime_fraction")
			// runtime_key names a runtime override; the harness has no runtime
			// layers, so Envoy's fallback, default_value, always applies.
			if err := onlyFields(fp, rf, "default_value", "runtime_key"); err != nil {
				return nil, err
			}
			dv := rf.GetDefaultValue()
			m.Numerator, m.Denominator = uint64(dv.GetNumerator()), denominators[dv.GetDenominator()]
			if m.Denominator == 0 {
				return nil, pathErrorf(field(fp, "default_value.denominator"), "unsupported %s", dv.GetDenominator())
			}
		}
		out = append(out, m)
	}
	return out, nil
}
