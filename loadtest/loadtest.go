package loadtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Options are one attack's settings.
type Options struct {
	Targets     vegeta.Targeter
	Pacer       vegeta.Pacer
	Duration    time.Duration
	Connections int
	HTTP2       bool
	Timeout     time.Duration
	Insecure    bool
	// Name labels the attack's results (vegeta's attack name).
	Name string
	// MaxWorkers bounds the attack's goroutines; with an unbounded rate
	// (Max) it is the concurrency.
	MaxWorkers uint64
}

// Max is no rate at all: as fast as MaxWorkers can go.
var Max = vegeta.Rate{}

// Run attacks until the duration ends or ctx is done, handing each result
// to each observer, and returns the attack's metrics.
func Run(ctx context.Context, o Options, observers ...func(*vegeta.Result)) *vegeta.Metrics {
	opts := []func(*vegeta.Attacker){vegeta.HTTP2(o.HTTP2), vegeta.KeepAlive(true)}
	if o.Connections > 0 {
		opts = append(opts, vegeta.Connections(o.Connections), vegeta.MaxConnections(o.Connections))
	}
	if o.Timeout > 0 {
		opts = append(opts, vegeta.Timeout(o.Timeout))
	}
	if o.MaxWorkers > 0 {
		opts = append(opts, vegeta.MaxWorkers(o.MaxWorkers), vegeta.Workers(min(o.MaxWorkers, vegeta.DefaultWorkers)))
	}
	if o.Insecure {
		opts = append(opts, vegeta.TLSConfig(&tls.Config{InsecureSkipVerify: true}))
	}
	atk := vegeta.NewAttacker(opts...)
	var m vegeta.Metrics
	m.Histogram = &vegeta.Histogram{Buckets: DefaultBuckets}
	results := atk.Attack(o.Targets, o.Pacer, o.Duration, o.Name)
	done := ctx.Done()
	for {
		select {
		case <-done:
			atk.Stop()
			done = nil // drain what is in flight
		case r, ok := <-results:
			if !ok {
				m.Close()
				return &m
			}
			m.Add(r) // the histogram too
			for _, f := range observers {
				f(r)
			}
		}
	}
}

// DefaultBuckets are the report's latency histogram.
var DefaultBuckets = vegeta.Buckets{0, 5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}

// ParseRate reads 100, 100/s or 6000/1m, or max (as fast as the workers go).
func ParseRate(s string) (vegeta.Rate, error) {
	if s == "max" {
		return Max, nil
	}
	freq, per, hasPer := strings.Cut(s, "/")
	n, err := strconv.Atoi(freq)
	if err != nil || n <= 0 {
		return vegeta.Rate{}, fmt.Errorf("%q is not a rate such as 100/s", s)
	}
	d := time.Second
	if hasPer {
		if per != "" && (per[0] < '0' || per[0] > '9') {
			per = "1" + per
		}
		if d, err = time.ParseDuration(per); err != nil || d <= 0 {
			return vegeta.Rate{}, fmt.Errorf("%q is not a rate such as 100/s", s)
		}
	}
	return vegeta.Rate{Freq: n, Per: d}, nil
}

// ParseRamp reads FROM:TO/DURATION, a rate that grows linearly from FROM
// to TO requests per second over DURATION.
func ParseRamp(s string) (vegeta.Pacer, time.Duration, error) {
	m := regexp.MustCompile(`^(\d+):(\d+)/(\S+)$`).FindStringSubmatch(s)
	if m == nil {
		return nil, 0, fmt.Errorf("%q is not a ramp such as 100:2000/60s", s)
	}
	from, _ := strconv.Atoi(m[1])
	to, _ := strconv.Atoi(m[2])
	d, err := time.ParseDuration(m[3])
	if err != nil || d <= 0 || from <= 0 || to <= 0 {
		return nil, 0, fmt.Errorf("%q is not a ramp such as 100:2000/60s", s)
	}
	return vegeta.LinearPacer{StartAt: vegeta.Rate{Freq: from, Per: time.Second}, Slope: float64(to-from) / d.Seconds()}, d, nil
}

// SLO is what a rate must hold: a latency quantile under a bound and an
// error ratio under a bound.
type SLO struct {
	Quantile   float64
	MaxLatency time.Duration
	MaxErrors  float64 // ratio, 0.01 for 1 %
}

// ParseSLO reads 'p99<200ms,errors<1%'; either part may be left out.
func ParseSLO(s string) (SLO, error) {
	slo := SLO{MaxErrors: math.Inf(1)}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		name, bound, ok := strings.Cut(part, "<")
		switch {
		case !ok:
			return slo, fmt.Errorf("%q: want pNN<DURATION or errors<N%%", part)
		case name == "errors":
			v, err := strconv.ParseFloat(strings.TrimSuffix(bound, "%"), 64)
			if err != nil || v < 0 || !strings.HasSuffix(bound, "%") {
				return slo, fmt.Errorf("%q: want errors<N%%", part)
			}
			slo.MaxErrors = v / 100
		case strings.HasPrefix(name, "p"):
			q, err := strconv.ParseFloat(name[1:], 64)
			d, derr := time.ParseDuration(bound)
			if err != nil || q <= 0 || q >= 100 || derr != nil || d <= 0 {
				return slo, fmt.Errorf("%q: want pNN<DURATION, such as p99<200ms", part)
			}
			slo.Quantile, slo.MaxLatency = q/100, d
		default:
			return slo, fmt.Errorf("%q: want pNN<DURATION or errors<N%%", part)
		}
	}
	return slo, nil
}

// ErrorRatio is the share of results that failed, by vegeta's rule (a
// transport error or a status outside 200-399).
func ErrorRatio(m *vegeta.Metrics) float64 { return 1 - m.Success }

// Holds reports whether the metrics meet the SLO, and if not, why.
func (s SLO) Holds(m *vegeta.Metrics) (bool, string) {
	if m.Requests == 0 {
		return false, "no request was answered"
	}
	if e := ErrorRatio(m); e >= s.MaxErrors {
		return false, fmt.Sprintf("errors %.2f%% ≥ %.2f%%", e*100, s.MaxErrors*100)
	}
	if s.Quantile > 0 {
		if q := m.Latencies.Quantile(s.Quantile); q >= s.MaxLatency {
			return false, fmt.Sprintf("p%g %v ≥ %v", s.Quantile*100, q.Round(time.Microsecond), s.MaxLatency)
		}
	}
	return true, ""
}

// Step is one rate tried while looking for the limit.
type Step struct {
	Rate    float64
	Metrics *vegeta.Metrics
	Held    bool
	Why     string
}

// FindLimit looks for the highest rate that holds the SLO: the rate grows
// by half each step from start until the SLO breaks (or max is reached),
// then the gap between the last rate that held and the first that did not
// is halved until it is within 5 % of the former. Each step attacks for
// step. It returns the last rate that held (0 if none did) and the steps.
func FindLimit(ctx context.Context, o Options, slo SLO, start, max float64, step time.Duration, onStep func(Step)) (float64, []Step) {
	return FindLimitObserved(ctx, o, slo, start, max, step, nil, onStep)
}

// FindLimitObserved is FindLimit with observers of every result, each
// labelled with its step's rate.
func FindLimitObserved(ctx context.Context, o Options, slo SLO, start, max float64, step time.Duration, observers []func(*vegeta.Result), onStep func(Step)) (float64, []Step) {
	var steps []Step
	try := func(rate float64) bool {
		o.Pacer = vegeta.Rate{Freq: int(math.Round(rate)), Per: time.Second}
		o.Duration, o.Name = step, fmt.Sprintf("%.0f/s", rate)
		m := Run(ctx, o, observers...)
		held, why := slo.Holds(m)
		s := Step{Rate: math.Round(rate), Metrics: m, Held: held, Why: why}
		steps = append(steps, s)
		if onStep != nil {
			onStep(s)
		}
		return held
	}
	good, bad := 0.0, 0.0
	for rate := start; ctx.Err() == nil; rate *= 1.5 {
		if max > 0 && rate > max {
			rate = max
		}
		if !try(rate) {
			bad = rate
			break
		}
		good = rate
		if max > 0 && rate >= max {
			return good, steps
		}
	}
	for bad > 0 && bad-good > 0.05*math.Max(good, 1) && ctx.Err() == nil {
		mid := (good + bad) / 2
		if try(mid) {
			good = mid
		} else {
			bad = mid
		}
	}
	return math.Round(good), steps
}
