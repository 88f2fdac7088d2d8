package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shadowdiff/shadowdiff/collector/store"
	shadowdiffv1 "github.com/shadowdiff/shadowdiff/proto/shadowdiff/v1"
)

var testLimits = limits{maxFields: 4096, maxSignatures: 512}

// stream simulates compared requests of one endpoint through the real diff
// and aggregation: field "v" is random per response with probability
// perResponse (so primary and secondary differ in noise = 1-(1-p)² of
// requests), and the candidate returns a wrong value with probability reg.
type stream struct {
	rng         *rand.Rand
	perResponse float64
	reg         float64
	secondary   bool
	// lateSecondary is the share of requests whose secondary digest is
	// missing although the endpoint has one (it came after the window).
	lateSecondary float64
	candidate     func(i int) f // overrides the candidate's "v" when set
	b             store.Bucket
	prev          *shadowdiffv1.ResponseDigest
}

func newStream(seed uint64, noise, reg float64, withSecondary bool) *stream {
	return &stream{rng: rand.New(rand.NewPCG(seed, 7)), perResponse: 1 - math.Sqrt(1-noise), reg: reg, secondary: withSecondary}
}

func (s *stream) value() string {
	if s.rng.Float64() < s.perResponse {
		return fmt.Sprint("r", s.rng.Uint64())
	}
	return "stable"
}

func (s *stream) run(n int) *stream {
	for i := range n {
		stable := f{"id", tNum, sInt, "42"}
		p := dg("k", primary, "/x", 200, stable, f{"v", tStr, sText, s.value()})
		var sec *shadowdiffv1.ResponseDigest
		if s.secondary && s.rng.Float64() >= s.lateSecondary {
			sec = dg("k", secondary, "/x", 200, stable, f{"v", tStr, sText, s.value()})
		}
		cv := f{"v", tStr, sText, s.value()}
		if s.rng.Float64() < s.reg {
			cv.value = "wrong"
		}
		if s.candidate != nil {
			cv = s.candidate(i)
		}
		addCompared(&s.b, p, compareRequest(p, sec, dg("k", candidate, "/x", 200, stable, cv)), testLimits)
		if !s.secondary {
			if s.prev != nil {
				addRepeat(&s.b, s.prev, p, testLimits)
			}
			s.prev = p
		}
	}
	return s
}

func (s *stream) stats(path string) *shadowdiffv1.FieldStats {
	m := familySize(s.b.Fields, &s.b.Counts, func(string) bool { return false })
	fc := s.b.Fields[path]
	if fc == nil {
		fc = &store.FieldCounts{}
	}
	return fieldStats(path, fc, &s.b.Counts, m, attainableP(&s.b.Counts, m), statConfig{alpha: 0.01, minSamples: 200})
}

func TestStatisticalDecision(t *testing.T) {
	for _, tc := range []struct {
		name        string
		s           *stream
		n           int
		significant bool
		class       shadowdiffv1.NoiseClass
	}{
		{"field noisy between primary and secondary is not reported", newStream(1, 1, 0, true), 5000, false, shadowdiffv1.NoiseClass_NOISE_CLASS_ALWAYS},
		{"1% regression on a field with 10% noise is found within 20k", newStream(2, 0.10, 0.01, true), 20000, true, shadowdiffv1.NoiseClass_NOISE_CLASS_SOMETIMES},
		{"1% regression on a field with 30% noise is found within 100k", newStream(3, 0.30, 0.01, true), 100000, true, shadowdiffv1.NoiseClass_NOISE_CLASS_SOMETIMES},
		{"definite regression on a stable field", newStream(4, 0, 1, true), 300, true, shadowdiffv1.NoiseClass_NOISE_CLASS_NEVER},
		{"small sample is not called significant", newStream(5, 0, 1, true), 150, false, shadowdiffv1.NoiseClass_NOISE_CLASS_NEVER},
		{"3 differences in 300 are not significant", newStream(6, 0, 0.01, true), 300, false, shadowdiffv1.NoiseClass_NOISE_CLASS_NEVER},
		{"no secondary: regression on a stable field", newStream(7, 0, 1, false), 300, true, shadowdiffv1.NoiseClass_NOISE_CLASS_NEVER},
		{"no secondary: noise learnt from repeats", newStream(8, 0.2, 0, false), 20000, false, shadowdiffv1.NoiseClass_NOISE_CLASS_SOMETIMES},
		{"no secondary: regression beyond learnt noise", newStream(9, 0.2, 0.05, false), 20000, true, shadowdiffv1.NoiseClass_NOISE_CLASS_SOMETIMES},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := tc.s.run(tc.n).stats("body.v")
			if strings.Contains(tc.name, "within") && fs.DiffyReported {
				t.Errorf("Diffy's rule reports it too; the case no longer shows what the test adds: %v", fs)
			}
			if fs.Significant != tc.significant || fs.NoiseClass != tc.class {
				t.Errorf("significant=%v class=%v, want %v %v\n%v", fs.Significant, fs.NoiseClass, tc.significant, tc.class, fs)
			}
			if fs.Reason == "" || fs.Total != uint64(tc.n) {
				t.Errorf("reason %q total %d", fs.Reason, fs.Total)
			}
		})
	}
}

// A timestamp that is noisy by value but becomes a number on the candidate
// is a shape change, found although noise explains every value difference.
func TestTimestampBecomingNumberIsReported(t *testing.T) {
	s := newStream(10, 1, 0, true)
	s.candidate = func(i int) f { return f{"v", tNum, sEpoch, fmt.Sprint(1700000000 + i)} }
	fs := s.run(300).stats("body.v")
	if !fs.Significant || fs.ShapeDifferences != 300 || fs.Definite != 0 {
		t.Errorf("timestamp -> number: %v", fs)
	}
	s = newStream(11, 1, 0, true)
	s.candidate = func(i int) f { return f{"v", tNull, sNull, "null"} }
	if fs := s.run(300).stats("body.v"); !fs.Significant {
		t.Errorf("timestamp -> null not significant: %v", fs)
	}
}

func TestNoiseAloneNeverReported(t *testing.T) {
	for i, noise := range []float64{0.001, 0.01, 0.1, 0.3, 0.5, 0.9, 1} {
		for _, sec := range []bool{true, false} {
			fs := newStream(uint64(100+i), noise, 0, sec).run(20000).stats("body.v")
			if fs.Significant {
				t.Errorf("noise %.3f secondary=%v reported: %v", noise, sec, fs)
			}
		}
	}
}

// Requests compared without their secondary (it arrived late) are judged
// against the noise the endpoint's triples show, not against a floor.
func TestNoiseWithLateSecondariesNeverReported(t *testing.T) {
	for i, noise := range []float64{0.1, 0.5, 1} {
		s := newStream(uint64(300+i), noise, 0, true)
		s.lateSecondary = 0.03
		if fs := s.run(5000).stats("body.v"); fs.Significant {
			t.Errorf("noise %.1f with 3%% late secondaries reported: %v", noise, fs)
		}
	}
	s := newStream(400, 0.1, 0.05, true)
	s.lateSecondary = 0.03
	if fs := s.run(20000).stats("body.v"); !fs.Significant {
		t.Errorf("a 5%% regression on a 10%% noisy field with late secondaries was missed: %v", fs)
	}
}

// The p-value may be looked at after every request: the chance that a null
// stream is ever called significant stays below alpha, while a naive
// fixed-sample z-test looked at as often exceeds it.
func TestRepeatedLooksControlFalsePositives(t *testing.T) {
	const streams, steps, every, alpha = 400, 4000, 20, 0.05
	rng := rand.New(rand.NewPCG(1, 2))
	zCrit := normalQuantile(1 - alpha)
	var anytime, naive int
	for range streams {
		var b, c uint64
		hitA, hitN := false, false
		for i := 1; i <= steps; i++ {
			if rng.IntN(2) == 0 {
				b++
			} else {
				c++
			}
			if i%every != 0 {
				continue
			}
			if pairedP(b, c) <= alpha {
				hitA = true
			}
			if (float64(b)-float64(c))/math.Sqrt(float64(b+c)) >= zCrit {
				hitN = true
			}
		}
		if hitA {
			anytime++
		}
		if hitN {
			naive++
		}
	}
	if rate := float64(anytime) / streams; rate > alpha {
		t.Errorf("always-valid test: %.3f of null streams ever significant, want <= %.2f", rate, alpha)
	}
	if rate := float64(naive) / streams; rate <= alpha {
		t.Errorf("naive test: %.3f ever significant; the simulation cannot show the problem it guards against", rate)
	}
}

func TestDiffyNumbersWorkedExample(t *testing.T) {
	for _, tc := range []struct {
		r, n, total uint64
		rel, abs    float64
		reported    bool
	}{
		{30, 20, 10000, 20, 0.1, false},      // relative exactly 20: Diffy compares with >
		{31, 20, 10000, 21.5686, 0.11, true}, // r > 1.5 n
		{10, 0, 100000, 100, 0.01, false},    // absolute 0.01 % <= 0.03
		{20, 30, 10000, 20, 0.1, false},      // r < n
		{0, 0, 0, 0, 0, false},
	} {
		rel, abs, rep := diffyNumbers(tc.r, tc.n, tc.total)
		if math.Abs(rel-tc.rel) > 1e-3 || math.Abs(abs-tc.abs) > 1e-9 || rep != tc.reported {
			t.Errorf("diffy(%d,%d,%d) = %.4f %.4f %v, want %.4f %.4f %v", tc.r, tc.n, tc.total, rel, abs, rep, tc.rel, tc.abs, tc.reported)
		}
	}
}

func TestNormalQuantile(t *testing.T) {
	for p, z := range map[float64]float64{0.5: 0, 0.975: 1.959964, 0.99: 2.326348, 0.01: -2.326348, 0.999999: 4.753424} {
		if got := normalQuantile(p); math.Abs(got-z) > 1e-5 {
			t.Errorf("normalQuantile(%v) = %v, want %v", p, got, z)
		}
	}
}

// The counters of the paths a response lists are remembered from the last
// response counted with the same comparison scratch: whatever changes
// between responses (bucket, headers, fields, a body without fields) must
// give each path its own count.
func TestSeenCountersFollowEachResponse(t *testing.T) {
	var a, b store.Bucket
	cmp := &comparison{}
	in := newInterner(newPathTable())
	count := func(bk *store.Bucket, d *shadowdiffv1.ResponseDigest) {
		t.Helper()
		v := responseFor(d)
		if len(v.fields) > 0 {
			in.paths(v.fields) // interned, as the engine's are
		}
		cmp.compare(v, nil, v)
		countCompared(bk, v, cmp, testLimits)
	}
	x, y, z := f{"x", tStr, sText, "1"}, f{"y", tStr, sText, "1"}, f{"z", tStr, sText, "1"}
	count(&a, withHeaders(dg("k1", primary, "/p", 200, x, y), "etag", "1"))
	count(&a, withHeaders(dg("k2", primary, "/p", 200, x, y), "etag", "2"))
	count(&a, withHeaders(dg("k3", primary, "/p", 200, x, z), "etag", "3"))
	count(&a, withHeaders(dg("k4", primary, "/p", 200, x, z), "vary", "3"))
	count(&b, withHeaders(dg("k5", primary, "/p", 200, x, z), "vary", "3"))
	empty := withHeaders(dg("k6", primary, "/p", 200), "vary", "3")
	empty.Body = &shadowdiffv1.BodyDigest{Kind: shadowdiffv1.BodyKind_BODY_KIND_EMPTY}
	count(&b, empty)
	text := withHeaders(dg("k7", primary, "/p", 200), "vary", "3")
	text.Body = &shadowdiffv1.BodyDigest{Kind: shadowdiffv1.BodyKind_BODY_KIND_TEXT, Hash: 1}
	count(&b, text)
	seen := func(bk *store.Bucket) map[string]uint64 {
		m := map[string]uint64{}
		for p, fc := range bk.Fields {
			m[p] = fc.Seen
		}
		return m
	}
	want := map[string]uint64{"status": 4, "headers.etag": 3, "headers.vary": 1, "body.x": 4, "body.y": 2, "body.z": 2}
	if got := seen(&a); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("bucket a: seen = %v\nwant %v", got, want)
	}
	want = map[string]uint64{"status": 3, "headers.vary": 3, "body.x": 1, "body.z": 1, "body": 1}
	if got := seen(&b); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("bucket b: seen = %v\nwant %v", got, want)
	}
}

// A full bucket's missing counter is not remembered: a path Merge adds
// later is counted from then on.
func TestSeenCountersForgetFullBuckets(t *testing.T) {
	lim := limits{maxFields: 2, maxSignatures: 512}
	var b store.Bucket
	cmp := &comparison{}
	count := func() {
		v := responseFor(dg("k", primary, "/p", 200, f{"x", tStr, sText, "1"}))
		cmp.compare(v, nil, v)
		countCompared(&b, v, cmp, lim)
	}
	b.Fields = map[string]*store.FieldCounts{"a": {}, "status": {}} // full
	count()
	b.Merge(&store.Bucket{Fields: map[string]*store.FieldCounts{"body.x": {Seen: 5}}}, 512)
	count()
	if got := b.Fields["body.x"].Seen; got != 6 {
		t.Errorf("seen = %d, want 6", got)
	}
}
