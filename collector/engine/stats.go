package engine

import (
	"fmt"
	"math"
	"strconv"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

// Diffy's default thresholds (twitter-archive/diffy).
const (
	diffyRelative = 20.0
	diffyAbsolute = 0.03
)

// noiseFloor is the noise rate assumed for a field of an endpoint that
// has neither a secondary nor repeated requests to learn noise from.
const noiseFloor = 0.001

// statConfig holds the decision parameters.
type statConfig struct {
	alpha      float64 // 1 - confidence
	minSamples uint64
}

// significanceLevel is 1 - confidence to 12 significant digits, so that
// 0.99 gives the 0.01 users see rather than 0.010000000000000009.
func significanceLevel(confidence float64) float64 {
	a, _ := strconv.ParseFloat(strconv.FormatFloat(1-confidence, 'g', 12, 64), 64)
	return a
}

// diffyNumbers computes Diffy's relative and absolute differences and
// whether Diffy would report the field.
func diffyNumbers(r, n, total uint64) (relative, absolute float64, reported bool) {
	d := math.Abs(float64(r) - float64(n))
	if r+n > 0 {
		relative = d / float64(r+n) * 100
	}
	if total > 0 {
		absolute = d / float64(total) * 100
	}
	return relative, absolute, r > n && relative > diffyRelative && absolute > diffyAbsolute
}

// noiseDifferences is n: primary/secondary differences plus, for requests
// compared without a secondary, the noise rate learnt from repeated
// identical requests scaled to them.
func noiseDifferences(fc *store.FieldCounts, ec *store.EndpointCounts) uint64 {
	n := fc.Diffs().Noise
	x, seen := aloneNoise(fc, ec, false)
	if alone := ec.Compared - ec.WithSecondary; alone > 0 && seen > 0 {
		n += uint64(math.Round(float64(x) / float64(seen) * float64(alone)))
	}
	return n
}

// aloneNoise is the noise evidence for requests compared without a
// secondary: differences between repeated identical requests to the
// primary, and between primary and secondary in the endpoint's other
// requests (under "v2 behaves like v1" the candidate is exchangeable with
// the secondary, so their difference rate is the null rate).
func aloneNoise(fc *store.FieldCounts, ec *store.EndpointCounts, structural bool) (diffs, seen uint64) {
	if structural {
		return fc.Diffs().RepeatStruct + fc.Diffs().NoiseStruct, noiseObservations(ec)
	}
	return fc.Diffs().Repeat + fc.Diffs().Noise, noiseObservations(ec)
}

// noiseObservations counts the endpoint's requests that show its noise:
// repeated identical requests and requests with a secondary.
func noiseObservations(ec *store.EndpointCounts) uint64 {
	return ec.RepeatPairs + ec.WithSecondary
}

// noiseClass classifies a field by how often it differs when the response
// should not change: never (< 0.1 %), always (>= 95 % of at least 10
// observations) or sometimes. Unspecified without observations.
func noiseClass(fc *store.FieldCounts) shadowdiffv1.NoiseClass {
	seen, diffs := fc.NoiseSeen, fc.Diffs().Noise+fc.Diffs().Repeat
	switch {
	case seen == 0:
		return shadowdiffv1.NoiseClass_NOISE_CLASS_UNSPECIFIED
	case diffs*1000 < seen:
		return shadowdiffv1.NoiseClass_NOISE_CLASS_NEVER
	case seen >= 10 && diffs*100 >= seen*95:
		return shadowdiffv1.NoiseClass_NOISE_CLASS_ALWAYS
	}
	return shadowdiffv1.NoiseClass_NOISE_CLASS_SOMETIMES
}

// structurallyNoisy reports whether type, shape or presence of the field
// changes without a new version (>= 0.1 % of noise observations).
func structurallyNoisy(fc *store.FieldCounts) bool {
	d := fc.Diffs().NoiseStruct + fc.Diffs().RepeatStruct
	return d > 0 && d*1000 >= fc.NoiseSeen
}

// channels returns the p-values of the field's informative tests: paired
// (with a secondary) and unpaired (noise from repeats), each for any
// difference and for structural differences only.
func channels(fc *store.FieldCounts, ec *store.EndpointCounts) []float64 {
	var ps []float64
	if fc.Diffs().Definite+fc.Diffs().NoiseOnly > 0 {
		ps = append(ps, pairedP(fc.Diffs().Definite, fc.Diffs().NoiseOnly))
	}
	if fc.Diffs().DefiniteStruct+fc.Diffs().NoiseOnlyStruct > 0 {
		ps = append(ps, pairedP(fc.Diffs().DefiniteStruct, fc.Diffs().NoiseOnlyStruct))
	}
	if alone := ec.Compared - ec.WithSecondary; alone > 0 {
		if x, seen := aloneNoise(fc, ec, false); fc.Diffs().RawAlone+x > 0 {
			ps = append(ps, unpairedP(fc.Diffs().RawAlone, alone, x, seen, noiseFloor))
		}
		if x, seen := aloneNoise(fc, ec, true); fc.Diffs().RawAloneStruct+x > 0 {
			ps = append(ps, unpairedP(fc.Diffs().RawAloneStruct, alone, x, seen, noiseFloor))
		}
	}
	return ps
}

// familySize counts the informative tests of an endpoint's fields: the
// Bonferroni factor. Fields whose tests cannot reject (no discordant
// requests) are left out, as in Tarone's refinement.
func familySize(fields map[string]*store.FieldCounts, ec *store.EndpointCounts, skip func(path string) bool) int {
	m := 0
	for p, fc := range fields {
		if !skip(p) {
			m += len(channels(fc, ec))
		}
	}
	return m
}

// attainableP is the smallest corrected p-value any field of the endpoint
// could have now: that of a field that differed in every compared request
// (primary and secondary agreeing, no noise learnt), for the endpoint's
// family size m. The always-valid test pays for repeated looks with a
// minimum of evidence (33 discordant requests at 99% for one test, 52 for
// a hundred), so below it a --min-samples of 5 would call 30 definite
// differences in 30 requests CLEAN.
func attainableP(ec *store.EndpointCounts, m int) float64 {
	p := 1.0
	if ec.WithSecondary > 0 {
		p = pairedP(ec.WithSecondary, 0)
	}
	if alone := ec.Compared - ec.WithSecondary; alone > 0 {
		p = math.Min(p, unpairedP(alone, alone, 0, noiseObservations(ec), noiseFloor))
	}
	return math.Min(1, p*float64(max(m, 1)))
}

// fieldStats computes the statistics and the decision for one field; m is
// the endpoint's family size and attainable its attainableP.
func fieldStats(path string, fc *store.FieldCounts, ec *store.EndpointCounts, m int, attainable float64, cfg statConfig) *shadowdiffv1.FieldStats {
	n := noiseDifferences(fc, ec)
	fs := &shadowdiffv1.FieldStats{
		Path: path, RawDifferences: fc.Diffs().Raw, NoiseDifferences: n, Total: ec.Compared,
		RawKinds: kindCounts(fc.Diffs().RawKinds), NoiseKinds: kindCounts(fc.Diffs().NoiseKinds),
		MinSamples: cfg.minSamples, Definite: fc.Diffs().Definite, NoiseClass: noiseClass(fc),
		ShapeDifferences: fc.Diffs().Shape,
	}
	fs.DiffyRelative, fs.DiffyAbsolute, fs.DiffyReported = diffyNumbers(fc.Diffs().Raw, n, ec.Compared)

	p := 1.0
	for _, q := range channels(fc, ec) {
		p = math.Min(p, q)
	}
	if m < 1 {
		m = 1
	}
	fs.PValue = math.Min(1, p*float64(m))
	fs.Confidence = 1 - fs.PValue
	fs.ExcessRate, fs.ExcessRateLower = excessRate(fc, ec, cfg.alpha)
	switch {
	case fc.Diffs().Raw == 0:
		fs.Reason = "never differed between primary and candidate"
	case ec.Compared < cfg.minSamples:
		fs.Reason = fmt.Sprintf("needs %d compared requests before deciding, has %d", cfg.minSamples, ec.Compared)
	case attainable > cfg.alpha:
		fs.Reason = underpowered(ec.Compared, attainable, cfg.alpha)
	case fs.PValue <= cfg.alpha:
		fs.Significant = true
		fs.Reason = significantReason(fc, n, ec, fs.PValue, cfg.alpha)
	case fc.Diffs().Raw <= n:
		fs.Reason = fmt.Sprintf("noise explains it: differs in %d requests vs candidate, %d in noise", fc.Diffs().Raw, n)
	default:
		fs.Reason = fmt.Sprintf("not significant: p = %.3g > %.3g (corrected for %d tests and repeated looks)", fs.PValue, cfg.alpha, m)
	}
	return fs
}

// underpowered says why nothing can be decided yet although the minimum
// sample size is reached.
func underpowered(compared uint64, attainable, alpha float64) string {
	return fmt.Sprintf("needs more compared requests before deciding: with %d, even a field differing in every one would have p = %.3g > %.3g", compared, attainable, alpha)
}

func significantReason(fc *store.FieldCounts, n uint64, ec *store.EndpointCounts, p, alpha float64) string {
	switch {
	case fc.Diffs().DefiniteStruct > fc.Diffs().NoiseOnlyStruct && fc.Diffs().Shape > 0:
		return fmt.Sprintf("type or shape changed in %d requests where noise changed only the value (p = %.3g <= %.3g)", fc.Diffs().Shape, p, alpha)
	case ec.WithSecondary > 0:
		return fmt.Sprintf("candidate differs in %d requests where primary and secondary agree, noise alone in %d (p = %.3g <= %.3g)", fc.Diffs().Definite, fc.Diffs().NoiseOnly, p, alpha)
	}
	return fmt.Sprintf("differs in %d of %d compared requests, noise explains %d (p = %.3g <= %.3g)", fc.Diffs().Raw, ec.Compared, n, p, alpha)
}

// excessRate estimates the rate of differences beyond noise and a
// one-sided lower confidence bound (fixed-sample normal bound).
func excessRate(fc *store.FieldCounts, ec *store.EndpointCounts, alpha float64) (rate, lower float64) {
	z := normalQuantile(1 - alpha)
	if ec.WithSecondary > 0 {
		t := float64(ec.WithSecondary)
		s := float64(fc.Diffs().Definite) - float64(fc.Diffs().NoiseOnly)
		return s / t, (s - z*math.Sqrt(float64(fc.Diffs().Definite+fc.Diffs().NoiseOnly))) / t
	}
	if ec.Compared == 0 {
		return 0, 0
	}
	n1 := float64(ec.Compared)
	p1 := float64(fc.Diffs().RawAlone) / n1
	p2, v2 := 0.0, 0.0
	if ec.RepeatPairs > 0 {
		n2 := float64(ec.RepeatPairs)
		p2 = float64(fc.Diffs().Repeat) / n2
		v2 = p2 * (1 - p2) / n2
	}
	return p1 - p2, p1 - p2 - z*math.Sqrt(p1*(1-p1)/n1+v2)
}

func kindCounts(ks [store.NumKinds]uint64) []*shadowdiffv1.KindCount {
	var out []*shadowdiffv1.KindCount
	for k, n := range ks {
		if n > 0 {
			out = append(out, &shadowdiffv1.KindCount{Kind: shadowdiffv1.DiffKind(k), Count: n})
		}
	}
	return out
}

// rating is Diffy's console rating of a difference rate.
func rating(rate float64) shadowdiffv1.Rating {
	switch {
	case rate < 0.001:
		return shadowdiffv1.Rating_RATING_PERFECT
	case rate < 0.05:
		return shadowdiffv1.Rating_RATING_ALMOST
	case rate < 0.5:
		return shadowdiffv1.Rating_RATING_NEUTRAL
	}
	return shadowdiffv1.Rating_RATING_POOR
}
