package analysis

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cutover-dev/cutover/analysis/stats"
	"github.com/cutover-dev/cutover/spec"
)

// scripted is a provider that returns the results it is given, one per
// measurement: the boundary that the real providers' own tests cover.
type scripted struct {
	results []float64
	errs    []error
	i       int
}

func (s *scripted) Measure(ctx context.Context, m *spec.Metric, since time.Time, sides Sides) (Measurement, any, error) {
	i := s.i
	s.i++
	if i < len(s.errs) && s.errs[i] != nil {
		return Measurement{}, nil, s.errs[i]
	}
	return Measurement{Phase: Running}, []float64{s.results[i%len(s.results)]}, nil
}

type oneProvider struct{ p Provider }

func (o oneProvider) For(*spec.Metric) (Provider, error) { return o.p, nil }

func metric(mod func(*spec.Metric)) spec.Metric {
	four := 4
	m := spec.Metric{
		Name: "m", Interval: spec.Duration(time.Second), Count: 5,
		SuccessCondition:      "result[0] >= 0.99",
		ConsecutiveErrorLimit: &four,
		Provider:              spec.Provider{Prometheus: &spec.PrometheusProvider{}},
	}
	if mod != nil {
		mod(&m)
	}
	return m
}

// run measures a metric once a second until it settles or 20 looks pass.
func run(t *testing.T, m spec.Metric, p Provider) *Run {
	t.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := NewRun("t", []spec.Metric{m}, start, false)
	for i := 0; i < 20 && !r.Done(); i++ {
		r.Tick(context.Background(), start.Add(time.Duration(i)*time.Second), oneProvider{p}, Sides{}, nil)
	}
	return r
}

// Argo's metric semantics, one limit at a time.
func TestMetricLimits(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		desc  string
		m     spec.Metric
		p     *scripted
		phase Phase
		looks int
	}{
		{"count successes", metric(nil), &scripted{results: []float64{1}}, Successful, 5},
		{"one failure fails with failureLimit 0", metric(nil), &scripted{results: []float64{1, 0.5}}, Failed, 2},
		{"failureLimit 2 tolerates two", metric(func(m *spec.Metric) { m.FailureLimit = 2 }), &scripted{results: []float64{0.5, 1, 0.5, 1, 1}}, Successful, 5},
		{"failureLimit 2 fails on the third", metric(func(m *spec.Metric) { m.FailureLimit = 2 }), &scripted{results: []float64{0.5, 0.5, 0.5}}, Failed, 3},
		{"failureCondition", metric(func(m *spec.Metric) { m.SuccessCondition = ""; m.FailureCondition = "result[0] > 0.05" }), &scripted{results: []float64{0.01, 0.2}}, Failed, 2},
		{"neither condition: inconclusive", metric(func(m *spec.Metric) { m.FailureCondition = "result[0] < 0.9" }), &scripted{results: []float64{0.95}}, Inconclusive, 1},
		{"inconclusiveLimit 1 tolerates one", metric(func(m *spec.Metric) { m.FailureCondition = "result[0] < 0.9"; m.InconclusiveLimit = 1 }), &scripted{results: []float64{0.95, 1, 1, 1, 1}}, Successful, 5},
		{"errors over consecutiveErrorLimit", metric(nil), &scripted{results: []float64{1}, errs: []error{errBoom, errBoom, errBoom, errBoom, errBoom}}, Error, 5},
		{"errors not in a row count as looks", metric(nil), &scripted{results: []float64{1}, errs: []error{errBoom, errBoom, nil, errBoom, errBoom}}, Successful, 5},
		{"consecutiveSuccessLimit ends early", metric(func(m *spec.Metric) { m.Count = 10; m.ConsecutiveSuccessLimit = 2 }), &scripted{results: []float64{1}}, Successful, 2},
		{"no count, no interval: once", metric(func(m *spec.Metric) { m.Count = 0; m.Interval = 0 }), &scripted{results: []float64{1}}, Successful, 1},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r := run(t, tc.m, tc.p)
			ms := r.Metrics[0]
			if ms.Phase != tc.phase || ms.Looks != tc.looks || r.Phase != runPhase(r.Metrics) {
				t.Fatalf("metric %s after %d looks, want %s after %d (%+v)", ms.Phase, ms.Looks, tc.phase, tc.looks, ms.Measurements)
			}
		})
	}
}

func TestInitialDelayAndInterval(t *testing.T) {
	m := metric(func(m *spec.Metric) {
		m.InitialDelay = spec.Duration(3 * time.Second)
		m.Interval = spec.Duration(2 * time.Second)
		m.Count = 2
	})
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := NewRun("t", []spec.Metric{m}, start, false)
	var at []int
	for s := 0; s < 10; s++ {
		if r.Tick(context.Background(), start.Add(time.Duration(s)*time.Second), oneProvider{&scripted{results: []float64{1}}}, Sides{}, nil) {
			at = append(at, s)
		}
	}
	if len(at) != 2 || at[0] != 3 || at[1] != 5 {
		t.Fatalf("measured at %v s, want 3 and 5", at)
	}
}

func TestJudgeWaitsThenInconclusive(t *testing.T) {
	m := metric(func(m *spec.Metric) {
		m.SuccessCondition, m.Count = "", 3
		m.Provider = spec.Provider{Gateway: &spec.GatewayProvider{Judge: &spec.Judge{MinSamples: 100, ErrorRate: &spec.ErrorRateJudge{MaxIncrease: 0.01, Alpha: 0.05, Beta: 0.2}}}}
	})
	p := judgeProvider{}
	r := run(t, m, p)
	if ms := r.Metrics[0]; ms.Phase != Inconclusive || ms.Looks != 3 || r.Phase != Inconclusive {
		t.Fatalf("a judge with too little traffic: %s after %d looks", ms.Phase, ms.Looks)
	}
}

type judgeProvider struct{}

func (judgeProvider) Measure(ctx context.Context, m *spec.Metric, since time.Time, s Sides) (Measurement, any, error) {
	return Judge(m.Provider.Gateway.Judge, 3, stats.Counts{Requests: 5}, stats.Counts{Requests: 5}, nil), nil, nil
}

// Argo's dryRun: a failing dry-run metric is reported and decides nothing;
// measurementRetention keeps that many measurements.
func TestDryRunAndMeasurementRetention(t *testing.T) {
	failing := metric(func(m *spec.Metric) { m.Name, m.DryRun, m.Retain, m.Count = "dry", true, 3, 6 })
	r := run(t, failing, &scripted{results: []float64{0.5}})
	if r.Phase != Successful || r.Metrics[0].Phase != Failed {
		t.Fatalf("run %s, metric %s: a dry-run failure decided the run", r.Phase, r.Metrics[0].Phase)
	}
	if n := len(r.Metrics[0].Measurements); n != 1 {
		t.Fatalf("%d measurements kept after an early failure", n)
	}
	passing := metric(func(m *spec.Metric) { m.Retain, m.Count = 3, 6 })
	r = run(t, passing, &scripted{results: []float64{1}})
	if r.Phase != Successful || len(r.Metrics[0].Measurements) != 3 || r.Metrics[0].Looks != 6 {
		t.Fatalf("run %s, kept %d of %d looks", r.Phase, len(r.Metrics[0].Measurements), r.Metrics[0].Looks)
	}
	// With a dry-run metric still measuring, the run waits for it.
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	both := NewRun("t", []spec.Metric{metric(func(m *spec.Metric) { m.Count = 1 }), metric(func(m *spec.Metric) { m.Name, m.DryRun = "dry", true })}, start, false)
	both.Tick(context.Background(), start, oneProvider{&scripted{results: []float64{1}}}, Sides{}, nil)
	if both.Phase != Running {
		t.Fatalf("run %s while its dry-run metric measures", both.Phase)
	}
}

// Argo takes {{ args.NAME }} with spaces inside the braces too, in every
// string field it fills.
func TestSubstituteArgumentsWithSpaces(t *testing.T) {
	ms := Substitute([]spec.Metric{
		{Name: "w", Provider: spec.Provider{Web: &spec.WebProvider{URL: "{{ args.api-url }}?service={{args.service}}", Headers: []spec.WebHeader{{Key: "X", Value: "{{ args.service }}"}}}}},
		{Name: "p", Provider: spec.Provider{Prometheus: &spec.PrometheusProvider{Query: `up{job="{{ args.service }}"}`}}},
		{Name: "d", Provider: spec.Provider{Datadog: &spec.DatadogProvider{Queries: map[string]string{"a": "sum:x{service:{{args.service}}}"}}}},
		{Name: "c", SuccessCondition: "result >= {{ args.floor }}", FailureCondition: `result == "{{args.service}}"`},
	}, map[string]string{"api-url": "http://checks", "service": "web", "floor": "0.99"})
	if w := ms[0].Provider.Web; w.URL != "http://checks?service=web" || w.Headers[0].Value != "web" {
		t.Errorf("web: %+v", w)
	}
	if q := ms[1].Provider.Prometheus.Query; q != `up{job="web"}` {
		t.Errorf("prometheus: %s", q)
	}
	if q := ms[2].Provider.Datadog.Queries["a"]; q != "sum:x{service:web}" {
		t.Errorf("datadog: %s", q)
	}
	if m := ms[3]; m.SuccessCondition != "result >= 0.99" || m.FailureCondition != `result == "web"` {
		t.Errorf("conditions: %q, %q", m.SuccessCondition, m.FailureCondition)
	}
}

// Argo fills the whole metric, so arguments reach a Prometheus header, a
// range query, a web body written as JSON and a Job's spec too; the
// template's own metrics keep the placeholders for the next run.
func TestSubstituteFillsEveryStringOfACopy(t *testing.T) {
	tmpl, errs := spec.DecodeTemplate("t.yaml", "t", []byte(`
args: [{name: service}, {name: token}]
metrics:
- name: p
  successCondition: result[0] < 1
  provider:
    prometheus:
      address: http://prom:9090
      query: up
      headers: [{key: Authorization, value: "Bearer {{args.token}}"}]
      rangeQuery: {start: "{{args.start}}", end: now(), step: 1m}
- name: w
  successCondition: result == true
  provider:
    web:
      url: http://checks/
      method: POST
      jsonBody: {service: "{{ args.service }}", tags: ["{{args.service}}-canary"]}
- name: j
  provider:
    job:
      spec:
        template:
          spec:
            containers:
            - {name: check, image: curl, args: ["http://{{args.service}}/healthz"]}
            restartPolicy: Never
`), spec.ParseOptions{Kubernetes: true})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	args := map[string]string{"service": "web", "token": "s3cret", "start": "now() - duration('5m')"}
	ms := Substitute(tmpl.Spec.Metrics, args)
	if p := ms[0].Provider.Prometheus; p.Headers[0].Value != "Bearer s3cret" || p.RangeQuery.Start != "now() - duration('5m')" {
		t.Errorf("prometheus header %q, range start %q", p.Headers[0].Value, p.RangeQuery.Start)
	}
	body, _ := yaml.Marshal(ms[1].Provider.Web.JSONBody)
	if got := string(body); got != "{service: \"web\", tags: [\"web-canary\"]}\n" {
		t.Errorf("web jsonBody: %s", got)
	}
	job, _ := yaml.Marshal(&ms[2].Provider.Job.Spec)
	if !strings.Contains(string(job), "http://web/healthz") {
		t.Errorf("job spec:\n%s", job)
	}
	orig, _ := yaml.Marshal(&tmpl.Spec.Metrics[2].Provider.Job.Spec)
	if !strings.Contains(string(orig), "{{args.service}}") || tmpl.Spec.Metrics[0].Provider.Prometheus.Headers[0].Value != "Bearer {{args.token}}" {
		t.Errorf("the template's metrics were changed:\n%s", orig)
	}
}
