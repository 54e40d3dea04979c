package analysis

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cutover-dev/cutover/analysis/stats"
	"github.com/cutover-dev/cutover/spec"
)

// Source is what the gateway provider reads: the embedded gateway's
// counters and latency samples per route and backend.
type Source interface {
	// Counts returns a backend's requests and 5xx answers on a route since
	// the gateway started.
	Counts(route, backend string) stats.Counts
	// Latencies returns latency samples in seconds taken since t.
	Latencies(route, backend string, since time.Time) []float64
}

// GatewayProvider measures from the embedded gateway. Counters are
// cumulative, so it keeps each comparison's starting counts.
type GatewayProvider struct {
	src Source

	mu        sync.Mutex // guards baselines
	baselines map[baselineKey][2]stats.Counts
}

type baselineKey struct {
	route, metric string
	since         time.Time
}

// NewGatewayProvider reads src.
func NewGatewayProvider(src Source) *GatewayProvider {
	return &GatewayProvider{src: src, baselines: map[baselineKey][2]stats.Counts{}}
}

// counts returns both sides' counts since the comparison began. The first
// call for a comparison takes the baseline; after a restart, the
// comparison starts over from then.
func (p *GatewayProvider) counts(metric string, since time.Time, s Sides) (stable, canary stats.Counts) {
	nowS, nowC := p.src.Counts(s.Route, s.Stable), p.src.Counts(s.Route, s.Canary)
	key := baselineKey{s.Route, metric, since}
	p.mu.Lock()
	base, ok := p.baselines[key]
	if !ok {
		base = [2]stats.Counts{nowS, nowC}
		p.baselines[key] = base
	}
	p.mu.Unlock()
	sub := func(a, b stats.Counts) stats.Counts {
		return stats.Counts{Requests: a.Requests - b.Requests, Errors: a.Errors - b.Errors}
	}
	return sub(nowS, base[0]), sub(nowC, base[1])
}

// Measure implements Provider.
func (p *GatewayProvider) Measure(ctx context.Context, m *spec.Metric, since time.Time, s Sides) (Measurement, any, error) {
	g := m.Provider.Gateway
	stable, canary := p.counts(m.Name, since, s)
	windowStart := time.Now().Add(-g.Window.D())
	if windowStart.Before(since) {
		windowStart = since
	}
	if g.Judge == nil {
		var v float64
		switch g.Value {
		case "errorRate":
			v = canary.Rate()
		case "requests":
			v = float64(canary.Requests)
		case "p50", "p99":
			lat := p.src.Latencies(s.Route, s.Canary, windowStart)
			slices.Sort(lat)
			q := 0.5
			if g.Value == "p99" {
				q = 0.99
			}
			v = stats.Quantile(lat, q)
		}
		return Measurement{Phase: Running}, []float64{v}, nil
	}
	looks := m.Count
	if looks == 0 {
		looks = MaxJudgeLooks
	}
	return Judge(g.Judge, looks, stable, canary, func() ([]float64, []float64) {
		return p.src.Latencies(s.Route, s.Stable, windowStart), p.src.Latencies(s.Route, s.Canary, windowStart)
	}), nil, nil
}

// JudgeFigures are what a judge's measurement reports.
type JudgeFigures struct {
	ErrorRate *stats.ErrorRateResult `json:"errorRate,omitempty"`
	Latency   *stats.LatencyResult   `json:"latency,omitempty"`
}

// Judge combines the error-rate and latency verdicts: any Fail fails; any
// Inconclusive (too few samples) or Continue waits; both Pass passes.
//
// The error-rate test is sequential and may look every time. The latency
// test is not: it runs at alpha divided by the most looks the metric takes,
// so that repeated looks keep its false-fail rate under alpha (Bonferroni).
func Judge(j *spec.Judge, looks int, stable, canary stats.Counts, latencies func() ([]float64, []float64)) Measurement {
	var f JudgeFigures
	verdicts := []stats.Verdict{}
	summary := ""
	if e := j.ErrorRate; e != nil {
		t := stats.ErrorRateTest{MaxIncrease: e.MaxIncrease, Alpha: e.Alpha, Beta: e.Beta, MinSamples: int64(j.MinSamples)}
		r := t.Evaluate(stable, canary)
		f.ErrorRate = &r
		verdicts = append(verdicts, r.Verdict)
		summary += fmt.Sprintf("errors %s: canary %.2f%% (n=%d) vs stable %.2f%% (n=%d), LLR %.2f in [%.2f, %.2f]",
			r.Verdict, 100*canary.Rate(), canary.Requests, 100*stable.Rate(), stable.Requests, r.LLR, r.Lower, r.Upper)
	}
	if l := j.Latency; l != nil && latencies != nil {
		s, c := latencies()
		r := stats.LatencyTest{MaxRatio: l.MaxRatio, Alpha: l.Alpha / float64(looks), MinSamples: j.MinSamples}.Evaluate(s, c)
		f.Latency = &r
		verdicts = append(verdicts, r.Verdict)
		if summary != "" {
			summary += "; "
		}
		summary += fmt.Sprintf("latency %s: p50 %.1fms vs %.1fms, p99 %.1fms vs %.1fms, p=%.3g (n=%d/%d)",
			r.Verdict, 1000*r.CanaryP50, 1000*r.StableP50, 1000*r.CanaryP99, 1000*r.StableP99, r.PValue, r.CanaryN, r.StableN)
	}
	meas := Measurement{Value: summary, Figures: f}
	switch {
	case slices.Contains(verdicts, stats.Fail):
		meas.Phase = Failed
		meas.Message = "the canary is worse than allowed"
	case slices.Contains(verdicts, stats.Inconclusive):
		meas.Phase = Pending
		meas.Message = fmt.Sprintf("too little traffic to judge yet (need %d requests per side)", j.MinSamples)
	case slices.Contains(verdicts, stats.Continue):
		meas.Phase = Pending
		meas.Message = "not enough evidence yet"
	default:
		meas.Phase = Successful
	}
	return meas
}
