package engine

import "math"

// The statistical decision uses an always-valid p-value: a mixture
// sequential probability ratio test (mSPRT, Robbins 1970; Johari et al.,
// "Always valid inference", 2017). For a sum S of n increments that are
// sub-Gaussian with mean <= 0 under the null hypothesis, exp(θS - nθ²/2) is
// a non-negative supermartingale for every θ > 0; mixing θ over a
// half-normal prior with scale τ keeps it one, so by Ville's inequality
// P(sup_n Λ_n >= 1/α) <= α. Hence p = min(1, 1/Λ_n) may be looked at after
// every request (every query) without inflating the false-positive rate.
//
// mixtureTau is τ on the scale of one standardised increment; 0.1 puts the
// prior's weight on excess rates of a few percent of the discordant
// requests, where regressions hide in noise.
const mixtureTau = 0.1

// alwaysValidP returns the one-sided always-valid p-value for a sum s of n
// standardised increments (n may be fractional for unpaired comparisons).
func alwaysValidP(s, n float64) float64 {
	if n <= 0 || s <= 0 {
		return 1
	}
	t2 := mixtureTau * mixtureTau
	v := 1 + n*t2
	x := s * mixtureTau / math.Sqrt(v)
	logLambda := math.Ln2 - 0.5*math.Log(v) + t2*s*s/(2*v) + logPhi(x)
	if logLambda <= 0 {
		return 1
	}
	return math.Exp(-logLambda)
}

// logPhi is log of the standard normal CDF.
func logPhi(x float64) float64 {
	if x > -30 {
		return math.Log(0.5 * math.Erfc(-x/math.Sqrt2))
	}
	// Asymptotic tail: Φ(x) ≈ φ(x)/|x|.
	return -x*x/2 - math.Log(-x) - 0.5*math.Log(2*math.Pi)
}

// pairedP tests b > c for discordant pairs of one request: b requests
// where only primary vs candidate differed, c where only primary vs
// secondary did. Under "the candidate behaves like another primary" the
// secondary and candidate are exchangeable, so each discordant request is
// a fair ±1 step (McNemar's sign test, made sequential).
func pairedP(b, c uint64) float64 {
	return alwaysValidP(float64(b)-float64(c), float64(b+c))
}

// unpairedP tests whether x1 of n1 exceeds the rate x2 of n2 (noise from
// repeated identical requests), standardised with the pooled variance
// (normal approximation). With no noise observations (n2 == 0) the noise
// rate is taken as floor.
func unpairedP(x1, n1, x2, n2 uint64, floor float64) float64 {
	if n1 == 0 || x1 == 0 {
		return 1
	}
	p1 := float64(x1) / float64(n1)
	var p2, pool, neff float64
	if n2 == 0 {
		p2, pool, neff = floor, floor, float64(n1)
	} else {
		p2 = float64(x2) / float64(n2)
		pool = float64(x1+x2) / float64(n1+n2)
		neff = 1 / (1/float64(n1) + 1/float64(n2))
	}
	if pool <= 0 || pool >= 1 {
		pool = math.Min(math.Max(pool, 1e-9), 1-1e-9)
	}
	z := (p1 - p2) / math.Sqrt(pool*(1-pool)/neff)
	return alwaysValidP(z*math.Sqrt(neff), neff)
}

// normalQuantile returns z with Φ(z) = p (Acklam's rational approximation,
// relative error < 1.2e-9).
func normalQuantile(p float64) float64 {
	if p <= 0 {
		return math.Inf(-1)
	}
	if p >= 1 {
		return math.Inf(1)
	}
	a := [...]float64{-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00}
	b := [...]float64{-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01}
	c := [...]float64{-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00}
	d := [...]float64{7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00}
	const low = 0.02425
	switch {
	case p < low:
		q := math.Sqrt(-2 * math.Log(p))
		return (((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	case p > 1-low:
		q := math.Sqrt(-2 * math.Log(1-p))
		return -(((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	}
	q := p - 0.5
	r := q * q
	return (((((a[0]*r+a[1])*r+a[2])*r+a[3])*r+a[4])*r + a[5]) * q / (((((b[0]*r+b[1])*r+b[2])*r+b[3])*r+b[4])*r + 1)
}
