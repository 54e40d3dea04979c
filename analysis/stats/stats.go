package stats

import (
	"math"
	"slices"
)

// Verdict is what a judge concludes.
type Verdict string

const (
	// Pass: the canary is no worse than allowed.
	Pass Verdict = "Pass"
	// Fail: the canary is worse than allowed.
	Fail Verdict = "Fail"
	// Continue: not enough evidence yet either way; look again later.
	Continue Verdict = "Continue"
	// Inconclusive: too few samples to judge at all.
	Inconclusive Verdict = "Inconclusive"
)

// Counts are requests and errors of one side since the analysis began.
type Counts struct {
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
}

// Rate is Errors / Requests, or 0.
func (c Counts) Rate() float64 {
	if c.Requests == 0 {
		return 0
	}
	return float64(c.Errors) / float64(c.Requests)
}

// ErrorRateTest is Wald's sequential probability ratio test of the canary's
// error rate minus the stable side's, on the normal approximation of that
// difference: H0 says it is 0, H1 says it is MaxIncrease. Counts are
// cumulative, so the test may be evaluated after every request or every
// second without inflating its error rates: it stops the first time the log
// likelihood ratio leaves (log(Beta/(1-Alpha)), log(1/Alpha)). The upper
// bound 1/Alpha (not Wald's (1-Beta)/Alpha) keeps the false-fail rate under
// Alpha by Ville's inequality.
type ErrorRateTest struct {
	MaxIncrease float64
	Alpha, Beta float64
	// MinSamples is the least number of requests on each side before any
	// verdict but Inconclusive.
	MinSamples int64
}

// ErrorRateResult is a verdict with the figures behind it.
type ErrorRateResult struct {
	Verdict Verdict `json:"verdict"`
	Stable  Counts  `json:"stable"`
	Canary  Counts  `json:"canary"`
	// Diff is the canary's error rate minus the stable side's.
	Diff float64 `json:"diff"`
	// StdErr is the standard error of Diff under H0.
	StdErr float64 `json:"stdErr"`
	// LLR is the log likelihood ratio of H1 against H0, between Lower and Upper.
	LLR   float64 `json:"llr"`
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

// Evaluate judges cumulative counts.
func (t ErrorRateTest) Evaluate(stable, canary Counts) ErrorRateResult {
	r := ErrorRateResult{
		Stable: stable, Canary: canary,
		Diff:  canary.Rate() - stable.Rate(),
		Lower: math.Log(t.Beta / (1 - t.Alpha)),
		Upper: math.Log(1 / t.Alpha),
	}
	if stable.Requests < t.MinSamples || canary.Requests < t.MinSamples {
		r.Verdict = Inconclusive
		return r
	}
	// Pooled rate with half a pseudo-error, so that a run without any
	// error still has a variance.
	p := (float64(stable.Errors+canary.Errors) + 0.5) / float64(stable.Requests+canary.Requests+1)
	v := p * (1 - p) * (1/float64(stable.Requests) + 1/float64(canary.Requests))
	r.StdErr = math.Sqrt(v)
	d := t.MaxIncrease
	r.LLR = d / v * (r.Diff - d/2)
	switch {
	case r.LLR >= r.Upper:
		r.Verdict = Fail
	case r.LLR <= r.Lower:
		r.Verdict = Pass
	default:
		r.Verdict = Continue
	}
	return r
}

// ExpectedRequests is the power calculation of the test: the number of
// requests to the route (canaryShare of them to the canary) after which the
// log likelihood ratio is expected to reach the upper bound when the true
// increase is trueIncrease over a stable error rate of baseRate. It is the
// mean first-passage time of the drifting random walk the LLR follows.
func (t ErrorRateTest) ExpectedRequests(baseRate, trueIncrease, canaryShare float64) float64 {
	p := baseRate + canaryShare*trueIncrease
	sigma2 := p * (1 - p)
	drift := canaryShare * (1 - canaryShare) * t.MaxIncrease * (trueIncrease - t.MaxIncrease/2) / sigma2
	return math.Log(1/t.Alpha) / drift
}

// LatencyTest is a one-sided Mann-Whitney U test, Kayenta's choice: it
// fails when the canary's latencies are stochastically greater than
// MaxRatio times the stable side's.
type LatencyTest struct {
	MaxRatio   float64
	Alpha      float64
	MinSamples int
}

// LatencyResult is a verdict with the figures behind it.
type LatencyResult struct {
	Verdict   Verdict `json:"verdict"`
	StableN   int     `json:"stableN"`
	CanaryN   int     `json:"canaryN"`
	StableP50 float64 `json:"stableP50"`
	CanaryP50 float64 `json:"canaryP50"`
	StableP99 float64 `json:"stableP99"`
	CanaryP99 float64 `json:"canaryP99"`
	U         float64 `json:"u"`
	Z         float64 `json:"z"`
	PValue    float64 `json:"pValue"`
}

// Evaluate judges two samples of latencies (any unit, the same for both).
func (t LatencyTest) Evaluate(stable, canary []float64) LatencyResult {
	r := LatencyResult{StableN: len(stable), CanaryN: len(canary), PValue: 1}
	if len(stable) < t.MinSamples || len(canary) < t.MinSamples {
		r.Verdict = Inconclusive
		return r
	}
	s := slices.Clone(stable)
	c := slices.Clone(canary)
	slices.Sort(s)
	slices.Sort(c)
	r.StableP50, r.StableP99 = Quantile(s, 0.5), Quantile(s, 0.99)
	r.CanaryP50, r.CanaryP99 = Quantile(c, 0.5), Quantile(c, 0.99)
	for i := range s {
		s[i] *= t.MaxRatio
	}
	r.U, r.Z = mannWhitney(c, s)
	r.PValue = 0.5 * math.Erfc(r.Z/math.Sqrt2)
	if r.PValue < t.Alpha {
		r.Verdict = Fail
	} else {
		r.Verdict = Pass
	}
	return r
}

// mannWhitney returns U for sample a against sample b (both sorted) and the
// z score of U with the tie correction; a large z means a tends to be larger.
func mannWhitney(a, b []float64) (u, z float64) {
	n1, n2 := float64(len(a)), float64(len(b))
	n := n1 + n2
	// Merge, giving tied values their average rank.
	rankSumA := 0.0
	tieTerm := 0.0
	i, j := 0, 0
	rank := 1.0
	for i < len(a) || j < len(b) {
		var v float64
		if j >= len(b) || (i < len(a) && a[i] <= b[j]) {
			v = a[i]
		} else {
			v = b[j]
		}
		ca, cb := 0, 0
		for i < len(a) && a[i] == v {
			i++
			ca++
		}
		for j < len(b) && b[j] == v {
			j++
			cb++
		}
		tied := float64(ca + cb)
		avg := rank + (tied-1)/2
		rankSumA += avg * float64(ca)
		tieTerm += tied*tied*tied - tied
		rank += tied
	}
	u = rankSumA - n1*(n1+1)/2
	mean := n1 * n2 / 2
	sd := math.Sqrt(n1 * n2 / 12 * ((n + 1) - tieTerm/(n*(n-1))))
	if sd == 0 {
		return u, 0
	}
	// Continuity correction toward the mean.
	return u, (u - mean - 0.5) / sd
}

// Quantile of sorted values, by linear interpolation; 0 for none.
func Quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
}
