package analysis

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"

	"github.com/cutover-dev/cutover/spec"
)

// Phase is the state of a measurement, a metric or a whole run, as in Argo.
type Phase string

const (
	Running      Phase = "Running"
	Successful   Phase = "Successful"
	Failed       Phase = "Failed"
	Inconclusive Phase = "Inconclusive"
	Error        Phase = "Error"
	// Pending is a judge's measurement that has not decided yet: it counts
	// toward nothing and the metric measures again.
	Pending Phase = "Pending"
)

// Measurement is one look at a metric.
type Measurement struct {
	At    time.Time `json:"at"`
	Phase Phase     `json:"phase"`
	// Value is the result as the conditions saw it, or the judge's summary.
	Value string `json:"value"`
	// Figures are a judge's numbers: counts, rates, bounds, p-value.
	Figures any    `json:"figures,omitempty"`
	Message string `json:"message,omitempty"`
}

// Sides names the two backends a judge compares.
type Sides struct {
	Route, Stable, Canary string
}

// Provider takes measurements. Measure returns Successful, Failed or
// Inconclusive when the provider judges by itself, Pending when its judge
// wants more data, or a Running measurement with Result set for the
// metric's conditions to decide.
type Provider interface {
	Measure(ctx context.Context, m *spec.Metric, started time.Time, sides Sides) (Measurement, any, error)
}

// Providers picks the provider for a metric.
type Providers interface {
	For(m *spec.Metric) (Provider, error)
}

// MetricStatus is a metric's progress in a run.
type MetricStatus struct {
	Name  string `json:"name"`
	Phase Phase  `json:"phase"`
	// Measurements are the latest few; Looks counts them all.
	Measurements []Measurement `json:"measurements"`
	Looks        int           `json:"looks"`
	// DryRun: the metric's verdict does not decide the run.
	DryRun bool `json:"dryRun,omitempty"`
	// Since is when the metric's current comparison began: the run's start,
	// or for a background judge, its last Pass, after which it starts over.
	Since        time.Time `json:"since"`
	Successes    int       `json:"successes"`
	Failures     int       `json:"failures"`
	Inconclusive int       `json:"inconclusive"`
	Errors       int       `json:"errors"`
	// ConsecutiveErrors and ConsecutiveSuccesses drive Argo's limits.
	ConsecutiveErrors    int `json:"consecutiveErrors"`
	ConsecutiveSuccesses int `json:"consecutiveSuccesses"`
}

// Run is one analysis run: its metrics, measured on their own schedules.
// It is a value the engine persists; Tick advances it.
type Run struct {
	Name    string         `json:"name"`
	Started time.Time      `json:"started"`
	Phase   Phase          `json:"phase"`
	Metrics []MetricStatus `json:"metrics"`
	// Background runs measure until the plan ends, not until count.
	Background bool `json:"background,omitempty"`

	specs []spec.Metric
}

// MaxJudgeLooks bounds a judge metric without a count: after this many
// undecided looks, the verdict is Inconclusive.
const MaxJudgeLooks = 120

// NewRun starts a run of metrics, with {{args.NAME}} already substituted.
func NewRun(name string, metrics []spec.Metric, started time.Time, background bool) *Run {
	r := &Run{Name: name, Started: started, Phase: Running, Background: background, specs: metrics}
	for _, m := range metrics {
		r.Metrics = append(r.Metrics, MetricStatus{Name: m.Name, Phase: Running, Since: started, DryRun: m.DryRun})
	}
	return r
}

// Attach gives a run read back from the state store its metric specs again.
func (r *Run) Attach(metrics []spec.Metric) { r.specs = metrics }

// Done reports whether the run has a final phase.
func (r *Run) Done() bool { return r.Phase != Running }

// Tick takes the measurements that are due at now and returns whether the
// run changed. observe, if not nil, sees each new measurement.
func (r *Run) Tick(ctx context.Context, now time.Time, providers Providers, sides Sides, observe func(metric string, m Measurement)) bool {
	if r.Done() {
		return false
	}
	changed := false
	for i := range r.Metrics {
		ms, m := &r.Metrics[i], &r.specs[i]
		if ms.Phase != Running || !due(ms, m, r.Started, now) {
			continue
		}
		meas := measure(ctx, providers, m, ms.Since, sides)
		if ctx.Err() != nil {
			break // cancelled, by an abort say: not a measurement
		}
		changed = true
		meas.At = now
		ms.Looks++
		ms.Measurements = append(ms.Measurements, meas)
		if keep := cmp.Or(m.Retain, 10); len(ms.Measurements) > keep {
			ms.Measurements = ms.Measurements[len(ms.Measurements)-keep:]
		}
		record(ms, m, meas, r.Background)
		if observe != nil {
			observe(m.Name, meas)
		}
		if r.Background && isJudge(m) && meas.Phase == Successful {
			ms.Since = now // keep watching: a fresh comparison from here
		}
	}
	if changed {
		r.Phase = runPhase(r.Metrics)
	}
	return changed
}

// due reports whether a metric's next measurement is due: after its initial
// delay, then every interval.
func due(ms *MetricStatus, m *spec.Metric, started, now time.Time) bool {
	first := started.Add(m.InitialDelay.D())
	if now.Before(first) {
		return false
	}
	if ms.Looks == 0 {
		return true
	}
	last := ms.Measurements[len(ms.Measurements)-1].At
	return !now.Before(last.Add(m.Interval.D()))
}

func measure(ctx context.Context, providers Providers, m *spec.Metric, started time.Time, sides Sides) Measurement {
	p, err := providers.For(m)
	if err != nil {
		return Measurement{Phase: Error, Message: err.Error()}
	}
	meas, result, err := p.Measure(ctx, m, started, sides)
	if err != nil {
		return Measurement{Phase: Error, Message: err.Error()}
	}
	if meas.Phase != Running {
		return meas
	}
	meas.Value = formatResult(result)
	meas.Phase, meas.Message = evaluate(m, result)
	return meas
}

// evaluate applies Argo's conditions to a result: a failureCondition that
// holds fails; a successCondition that does not hold fails; with both set
// and neither holding, the measurement is Inconclusive.
func evaluate(m *spec.Metric, result any) (Phase, string) {
	env := conditionEnv(result)
	eval := func(cond string) (bool, error) {
		prog, err := compileCondition(cond, env)
		if err != nil {
			return false, err
		}
		out, err := expr.Run(prog, env)
		if err != nil {
			return false, err
		}
		b, _ := out.(bool)
		return b, nil
	}
	if m.FailureCondition != "" {
		failed, err := eval(m.FailureCondition)
		if err != nil {
			return Error, err.Error()
		}
		if failed {
			return Failed, "failureCondition holds: " + m.FailureCondition
		}
	}
	if m.SuccessCondition != "" {
		ok, err := eval(m.SuccessCondition)
		if err != nil {
			return Error, err.Error()
		}
		if ok {
			return Successful, ""
		}
		if m.FailureCondition == "" {
			return Failed, "successCondition does not hold: " + m.SuccessCondition
		}
	}
	if m.SuccessCondition != "" && m.FailureCondition != "" {
		return Inconclusive, "neither condition holds"
	}
	return Successful, ""
}

func formatResult(result any) string {
	if m, ok := result.(map[string]float64); ok {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s: %g", k, m[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	list, ok := result.([]float64)
	if !ok {
		// Anything else (a web metric's JSON value) as JSON, as Argo shows it.
		b, _ := json.Marshal(result)
		return string(b)
	}
	parts := make([]string, len(list))
	for i, v := range list {
		parts[i] = fmt.Sprintf("%g", v)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// record counts a measurement and settles the metric's phase by Argo's
// limits: failures over failureLimit fail it, inconclusive ones over
// inconclusiveLimit make it Inconclusive, errors in a row over
// consecutiveErrorLimit make it Error.
func record(ms *MetricStatus, m *spec.Metric, meas Measurement, background bool) {
	judge := isJudge(m)
	switch meas.Phase {
	case Successful:
		ms.Successes++
		ms.ConsecutiveSuccesses++
		ms.ConsecutiveErrors = 0
	case Failed:
		ms.Failures++
		ms.ConsecutiveSuccesses = 0
		ms.ConsecutiveErrors = 0
	case Inconclusive:
		ms.Inconclusive++
		ms.ConsecutiveSuccesses = 0
		ms.ConsecutiveErrors = 0
	case Error:
		ms.Errors++
		ms.ConsecutiveErrors++
	case Pending:
		ms.ConsecutiveErrors = 0
	}
	switch {
	case m.FailureLimit >= 0 && ms.Failures > m.FailureLimit: // -1: no limit, as Argo's
		ms.Phase = Failed
	case ms.Inconclusive > m.InconclusiveLimit:
		ms.Phase = Inconclusive
	case ms.ConsecutiveErrors > *m.ConsecutiveErrorLimit:
		ms.Phase = Error
	case judge && meas.Phase == Successful && !background:
		ms.Phase = Successful // a judge decides once
	case m.ConsecutiveSuccessLimit > 0 && ms.ConsecutiveSuccesses >= m.ConsecutiveSuccessLimit:
		ms.Phase = Successful
	case m.Count == 0 && m.Interval > 0 && (background || !judge):
		// Argo measures such a metric indefinitely: a background one until
		// the plan ends, a step's until the step ends (a promote, an
		// abort, or a failure past its limit).
	case judge && meas.Phase == Pending:
		limit := m.Count
		if limit == 0 {
			limit = MaxJudgeLooks
		}
		if ms.Looks >= limit {
			ms.Phase = Inconclusive
			ms.Inconclusive++
		}
	case !judge && ms.Successes+ms.Failures+ms.Inconclusive+ms.Errors >= max(m.Count, 1):
		// The count is reached; Argo's rules when a streak was asked for
		// and not reached: Inconclusive, or Failed when failures do not
		// count (failureLimit -1).
		switch {
		case m.ConsecutiveSuccessLimit > 0 && m.FailureLimit >= 0:
			ms.Phase = Inconclusive
		case m.ConsecutiveSuccessLimit > 0:
			ms.Phase = Failed
		default:
			ms.Phase = Successful
		}
	}
}

func isJudge(m *spec.Metric) bool {
	return m.Provider.Gateway != nil && m.Provider.Gateway.Judge != nil ||
		m.Provider.Prometheus != nil && m.Provider.Prometheus.Judge != nil
}

func runPhase(metrics []MetricStatus) Phase {
	phase := Successful
	for _, m := range metrics {
		if m.DryRun && m.Phase != Running {
			continue // measured and reported; its verdict decides nothing
		}
		switch m.Phase {
		case Failed, Error:
			return Failed
		case Inconclusive:
			phase = Inconclusive
		case Running:
			if phase == Successful {
				phase = Running
			}
		}
	}
	return phase
}
