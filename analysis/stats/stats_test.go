package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// simulateErrorRate sends requests at rps for up to seconds, canaryShare of
// them to a canary with error rate canaryRate and the rest to a stable side
// with stableRate, and looks at the test once a second, as the analysis
// does. It returns the verdict and the number of requests it took.
func simulateErrorRate(rng *rand.Rand, t ErrorRateTest, stableRate, canaryRate, canaryShare float64, rps, seconds int) (Verdict, int64) {
	var s, c Counts
	for sec := 1; sec <= seconds; sec++ {
		for range rps {
			if rng.Float64() < canaryShare {
				c.Requests++
				if rng.Float64() < canaryRate {
					c.Errors++
				}
			} else {
				s.Requests++
				if rng.Float64() < stableRate {
					s.Errors++
				}
			}
		}
		if v := t.Evaluate(s, c).Verdict; v == Pass || v == Fail {
			return v, s.Requests + c.Requests
		}
	}
	return Continue, s.Requests + c.Requests
}

var judge = ErrorRateTest{MaxIncrease: 0.01, Alpha: 0.05, Beta: 0.2, MinSamples: 100}

// Over 1,000 A/A runs (the canary exactly as good as stable) the test
// aborts at most Alpha of them, although it looks every second.
func TestErrorRateFalseAbortRateAA(t *testing.T) {
	for _, tc := range []struct {
		base  float64
		share float64
	}{{0.01, 0.1}, {0.01, 0.5}, {0.001, 0.1}, {0.05, 0.34}} {
		rng := rand.New(rand.NewPCG(1, uint64(tc.base*1e6)+uint64(tc.share*100)))
		fails := 0
		const runs = 1000
		for range runs {
			if v, _ := simulateErrorRate(rng, judge, tc.base, tc.base, tc.share, 200, 120); v == Fail {
				fails++
			}
		}
		rate := float64(fails) / runs
		t.Logf("base %.3f, canary share %.2f: %d of %d A/A runs aborted (%.3f, alpha %.2f)", tc.base, tc.share, fails, runs, rate, judge.Alpha)
		if rate > judge.Alpha {
			t.Errorf("base %.3f share %.2f: false-abort rate %.3f exceeds alpha %.2f", tc.base, tc.share, rate, judge.Alpha)
		}
	}
}

// With a true increase of 2 points at 200 rps, the abort comes within the
// number of requests the power calculation predicts.
func TestErrorRateDetectsIncreaseWithinPrediction(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	const base, increase, share = 0.01, 0.02, 0.1
	predicted := judge.ExpectedRequests(base, increase, share)
	var took []float64
	fails := 0
	const runs = 300
	for range runs {
		v, n := simulateErrorRate(rng, judge, base, base+increase, share, 200, 300)
		if v == Fail {
			fails++
			took = append(took, float64(n))
		}
	}
	slices.Sort(took)
	median := took[len(took)/2]
	t.Logf("power calculation: %.0f requests; %d of %d runs aborted, median after %.0f requests (%.1f s at 200 rps)", predicted, fails, runs, median, median/200)
	if float64(fails)/runs < 1-judge.Beta {
		t.Errorf("only %d of %d runs detected the increase; power should be at least %.2f", fails, runs, 1-judge.Beta)
	}
	if median > predicted {
		t.Errorf("median abort after %.0f requests, later than the predicted %.0f", median, predicted)
	}
}

func TestErrorRateBelowMinimumIsInconclusive(t *testing.T) {
	r := judge.Evaluate(Counts{Requests: 5000, Errors: 0}, Counts{Requests: 99, Errors: 99})
	if r.Verdict != Inconclusive {
		t.Fatalf("99 canary requests: %s", r.Verdict)
	}
}

func latencySample(rng *rand.Rand, n int, scale float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = scale * math.Exp(rng.NormFloat64()*0.5) // log-normal, like real latencies
	}
	return out
}

func TestLatencyFalseFailRateAA(t *testing.T) {
	lt := LatencyTest{MaxRatio: 1, Alpha: 0.05, MinSamples: 50}
	rng := rand.New(rand.NewPCG(4, 5))
	fails := 0
	const runs = 1000
	for range runs {
		if lt.Evaluate(latencySample(rng, 300, 0.02), latencySample(rng, 100, 0.02)).Verdict == Fail {
			fails++
		}
	}
	// One look at level alpha fails an A/A comparison with probability
	// alpha itself (a little less with the continuity correction), so the
	// observed rate may exceed alpha by sampling noise: allow two standard
	// errors of a binomial proportion over the runs.
	tolerance := 2 * math.Sqrt(lt.Alpha*(1-lt.Alpha)/runs)
	t.Logf("%d of %d A/A latency comparisons failed (alpha %.2f ± %.3f)", fails, runs, lt.Alpha, tolerance)
	if rate := float64(fails) / runs; rate > lt.Alpha+tolerance {
		t.Errorf("false-fail rate %.3f exceeds alpha %.2f by more than sampling noise", rate, lt.Alpha)
	}
}

func TestLatencyDetectsSlowCanary(t *testing.T) {
	lt := LatencyTest{MaxRatio: 1.2, Alpha: 0.05, MinSamples: 50}
	rng := rand.New(rand.NewPCG(6, 7))
	// 20 % slower is allowed; 50 % slower is not.
	if r := lt.Evaluate(latencySample(rng, 500, 0.02), latencySample(rng, 200, 0.02*1.1)); r.Verdict != Pass {
		t.Errorf("a canary 10%% slower with 20%% allowed: %+v", r)
	}
	r := lt.Evaluate(latencySample(rng, 500, 0.02), latencySample(rng, 200, 0.02*1.5))
	if r.Verdict != Fail || r.CanaryP50/r.StableP50 < 1.3 {
		t.Errorf("a canary 50%% slower: %+v", r)
	}
}

func TestMannWhitneyKnownValue(t *testing.T) {
	// a entirely above b: U = n1*n2.
	u, z := mannWhitney([]float64{4, 5, 6}, []float64{1, 2, 3})
	if u != 9 || z <= 0 {
		t.Fatalf("U %v z %v", u, z)
	}
	// Ties share ranks: a=[1,2], b=[1,2] ranks a 1.5+3.5 = 5, U = 5-3 = 2.
	u, _ = mannWhitney([]float64{1, 2}, []float64{1, 2})
	if u != 2 {
		t.Fatalf("tied samples: U %v, want 2", u)
	}
}
