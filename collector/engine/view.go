package engine

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// timeRange is a half-open window; zero bounds are open.
type timeRange struct{ start, end time.Time }

var rangeAll = timeRange{}

// view is an endpoint's results over a time range with the noise rules in
// force applied: the summary and the statistics of the fields asked for.
type view struct {
	counts  store.EndpointCounts // the requests in the range
	summary *shadowdiffv1.EndpointSummary
	fields  []*shadowdiffv1.FieldStats // ranked by compareFields
}

// fieldsKept selects the fields a view keeps.
type fieldsKept int

const (
	keepSignificant fieldsKept = iota // the significant regressions
	keepAll                           // every field, suppressed ones included
)

// ruleFor returns the id of the first noise rule covering the path of the
// endpoint, or "". Called with e.mu held.
func (e *Engine) ruleFor(endpoint, path string) string {
	for _, r := range e.noiseRules {
		if (r.Endpoint == "" || r.Endpoint == endpoint) && store.PathHasPrefix(path, r.PathPrefix) {
			return r.Id
		}
	}
	return ""
}

// viewLocked computes the view of an endpoint; ok is false when it has
// no requests in the range. Called with e.mu held (read).
func (e *Engine) viewLocked(ea *endpointAgg, rng timeRange, keep fieldsKept) (*view, bool) {
	sum, ok, done := ea.sharedSum(rng)
	defer done()
	if !ok {
		return nil, false
	}
	ec := &sum.Counts
	suppressed := func(path string) bool { return e.ruleFor(ea.key, path) != "" }
	isNoise := func(path string, structuralDiff bool) bool {
		if suppressed(path) {
			return true
		}
		fc := sum.Fields[path]
		if fc == nil {
			return false
		}
		if structuralDiff {
			return structurallyNoisy(fc)
		}
		c := noiseClass(fc)
		return c == shadowdiffv1.NoiseClass_NOISE_CLASS_SOMETIMES || c == shadowdiffv1.NoiseClass_NOISE_CLASS_ALWAYS
	}
	s := &shadowdiffv1.EndpointSummary{
		Endpoint: ea.key, Method: ea.method, RouteName: ea.routeName, PathTemplate: ea.pathTemplate,
		Requests: ec.Requests, Compared: ec.Compared,
		RawDifferent: ec.RawDifferent, NoiseDifferent: ec.NoiseDifferent,
		RegressionDifferent: regressionDifferent(sum, isNoise),
		SkippedSideEffect:   ec.SkippedSideEffect,
		Incomplete:          &shadowdiffv1.Incomplete{MissingPrimary: ec.MissingPrimary, MissingSecondary: ec.MissingSecondary, MissingCandidate: ec.MissingCandidate},
		FingerprintMismatch: ec.FingerprintMismatch, Duplicates: ec.Duplicates,
		HasSecondary: ec.WithSecondary > 0 || ea.hasSecondary,
		Overflow:     ea.pathTemplate == overflowPath,
	}
	// A superseded endpoint gets no more requests: it keeps the verdict its
	// requests earned (a regression found stays found); too few for one,
	// its reason says it will not get more.
	var supersededWhy string
	if !s.Overflow {
		s.SupersededBy, supersededWhy = e.endpoints.supersededBy(ea.key, ea.method, ea.pathTemplate)
	}
	if sum.FirstSeenNano != 0 {
		s.FirstSeen = timestamppb.New(time.Unix(0, sum.FirstSeenNano))
		s.LastSeen = timestamppb.New(time.Unix(0, sum.LastSeenNano))
	}
	if ec.Compared > 0 {
		s.DifferenceRate = float64(s.RegressionDifferent) / float64(ec.Compared)
		s.NoiseRate = float64(ec.NoiseDifferent) / float64(ec.Compared)
		// Nothing compared (side effects only, say) earns no rating.
		s.Rating = rating(s.DifferenceRate)
	}
	v := &view{counts: sum.Counts, summary: s}
	// Field statistics decide the verdict, so they are always computed;
	// keep only selects the ones kept.
	m := familySize(sum.Fields, ec, suppressed)
	s.AttainablePValue, s.SignificanceLevel, s.MinSamples = attainableP(ec, m), e.cfg.alpha, e.cfg.minSamples
	for path, fc := range sum.Fields {
		if fc.Diffs().Raw == 0 && keep != keepAll {
			// Never differed between primary and candidate: neither
			// significant nor reported by Diffy's rule, so it counts for
			// nothing but the list of all fields.
			continue
		}
		fs := fieldStats(path, fc, ec, m, s.AttainablePValue, e.cfg)
		if id := e.ruleFor(ea.key, path); id != "" {
			fs.SuppressedByRule = id
			fs.Significant = false
			fs.Reason = "suppressed by noise rule " + id
		} else if s.Overflow {
			// Not one endpoint's traffic: never judged.
			fs.Significant = false
			fs.Reason = "not judged: " + overflowReason
		} else {
			if fs.Significant {
				s.SignificantFields++
			}
			if fs.DiffyReported {
				s.DiffyFields++
			}
		}
		if keep == keepAll || keep == keepSignificant && fs.Significant {
			v.fields = append(v.fields, fs)
		}
	}
	switch {
	case s.Overflow:
		s.Verdict = shadowdiffv1.Verdict_VERDICT_INSUFFICIENT_DATA
		s.VerdictReason = overflowReason
		s.Rating = shadowdiffv1.Rating_RATING_UNSPECIFIED // a rate over unrelated paths rates nothing
	case ec.Compared == 0 && ec.SkippedSideEffect > 0:
		// Never anything to compare: not "too few yet".
		s.Verdict = shadowdiffv1.Verdict_VERDICT_INSUFFICIENT_DATA
		s.VerdictReason = fmt.Sprintf("side effects only: the shadows' filters answered its %d request(s) without sending them upstream, nothing to compare", ec.SkippedSideEffect)
	case ec.Compared < e.cfg.minSamples:
		s.Verdict = shadowdiffv1.Verdict_VERDICT_INSUFFICIENT_DATA
		s.VerdictReason = fmt.Sprintf("needs %d compared requests before deciding, has %d", e.cfg.minSamples, ec.Compared)
	case s.AttainablePValue > e.cfg.alpha:
		s.Verdict = shadowdiffv1.Verdict_VERDICT_INSUFFICIENT_DATA
		s.VerdictReason = underpowered(ec.Compared, s.AttainablePValue, e.cfg.alpha)
	case s.SignificantFields > 0:
		s.Verdict = shadowdiffv1.Verdict_VERDICT_REGRESSION
		s.VerdictReason = fmt.Sprintf("%d field(s) differ significantly more often than noise explains (at p <= %.3g)", s.SignificantFields, e.cfg.alpha)
	default:
		s.Verdict = shadowdiffv1.Verdict_VERDICT_CLEAN
		s.VerdictReason = fmt.Sprintf("no field differs significantly more often than noise explains (at p <= %.3g) in %d compared requests", e.cfg.alpha, ec.Compared)
	}
	if supersededWhy != "" && s.Verdict == shadowdiffv1.Verdict_VERDICT_INSUFFICIENT_DATA {
		s.VerdictReason = supersededWhy + "; " + s.VerdictReason + ", and it gets no more"
	}
	slices.SortFunc(v.fields, compareFields)
	return v, true
}

// compareFields ranks fields: significant first, then by p-value, raw
// differences and path.
func compareFields(a, b *shadowdiffv1.FieldStats) int {
	if a.Significant != b.Significant {
		if a.Significant {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.PValue, b.PValue); c != 0 {
		return c
	}
	if c := cmp.Compare(b.RawDifferences, a.RawDifferences); c != 0 {
		return c
	}
	return cmp.Compare(a.Path, b.Path)
}

// compareEndpoints ranks endpoints by difference rate, then regressions.
func compareEndpoints(a, b *shadowdiffv1.EndpointSummary) int {
	if c := cmp.Compare(b.DifferenceRate, a.DifferenceRate); c != 0 {
		return c
	}
	if c := cmp.Compare(b.SignificantFields, a.SignificantFields); c != 0 {
		return c
	}
	if c := cmp.Compare(b.RegressionDifferent, a.RegressionDifferent); c != 0 {
		return c
	}
	return cmp.Compare(a.Endpoint, b.Endpoint)
}
