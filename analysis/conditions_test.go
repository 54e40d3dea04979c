package analysis

import (
	"math"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/spec"
)

// Conditions as Argo evaluates them (utils/evaluate): one value compares
// as a number and as result[0]; more values must be indexed; the helpers
// asInt, asFloat, isNaN, isInf, isNil and default.
func TestConditionsAsArgoWritesThem(t *testing.T) {
	for _, tc := range []struct {
		cond   string
		result any
		want   Phase
	}{
		{"result >= 0.95", []float64{0.97}, Successful},
		{"result[0] >= 0.95", []float64{0.97}, Successful},
		{"result >= 0.95", []float64{0.90}, Failed},
		{"0.95 <= result", []float64{0.97}, Successful},
		{"result * 100 > 95", []float64{0.97}, Successful},
		{"result[0] + result[1] == 3", []float64{1, 2}, Successful},
		{"result >= 0.95", []float64{0.97, 0.99}, Error},
		{"all(result, {# > 0.9})", []float64{0.97, 0.99}, Successful},
		{"asInt(result[0]) == 3", []float64{3.7}, Successful},
		{"asFloat(\"0.5\") < result", []float64{0.97}, Successful},
		{"isNaN(result[0])", []float64{math.NaN()}, Successful},
		{"isInf(result[0])", []float64{math.Inf(1)}, Successful},
		{"isNil(result)", nil, Successful},
		{"default(result, 0) == 0", nil, Successful},
		{"result.p99 < 0.2", map[string]float64{"p99": 0.1}, Successful},
	} {
		m := &spec.Metric{Name: "m", SuccessCondition: tc.cond}
		if got, msg := evaluate(m, tc.result); got != tc.want {
			t.Errorf("%s on %v: %s %s, want %s", tc.cond, tc.result, got, msg, tc.want)
		}
		if tc.want != Error {
			if _, err := spec.Parse("p.yaml", []byte(planWith(tc.cond))); err != nil {
				t.Errorf("%s: refused by validation: %v", tc.cond, err)
			}
		}
	}
}

func planWith(cond string) string {
	return `apiVersion: cutover.dev/v1alpha1
kind: Gateway
metadata: {name: g}
spec:
  listeners: [{address: "127.0.0.1:0"}]
  admin: {address: "127.0.0.1:0"}
  backends:
  - {name: a, endpoints: ["http://127.0.0.1:1"]}
  - {name: b, endpoints: ["http://127.0.0.1:2"]}
  routes:
  - name: r
    backends: [{name: a, weight: 100}, {name: b, weight: 0}]
---
apiVersion: cutover.dev/v1alpha1
kind: Rollout
metadata: {name: p}
spec:
  route: r
  strategy:
    canary:
      stableService: a
      canaryService: b
      steps:
      - setWeight: 50
      - analysis:
          metrics:
          - name: m
            successCondition: '` + cond + `'
            provider: {prometheus: {address: "http://127.0.0.1:9090", query: up}}
`
}

// failureLimit -1 and consecutiveSuccessLimit with Argo's rules when the
// count is reached.
func TestFailureLimitMinusOneAndStreaks(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		fl, csl int
		results []float64
		want    Phase
	}{
		{"-1: failures do not fail; the streak ends it", -1, 2, []float64{0, 0, 0, 1, 1}, Successful},
		{"-1: the count ends it without the streak: failed", -1, 2, []float64{0, 1, 0, 1, 0}, Failed},
		{"limit 9 and a streak not reached: inconclusive", 9, 3, []float64{1, 0, 1, 1, 0}, Inconclusive},
	} {
		m := metric(func(m *spec.Metric) { m.Count = 5; m.FailureLimit = tc.fl; m.ConsecutiveSuccessLimit = tc.csl })
		r := run(t, m, &scripted{results: tc.results})
		if got := r.Metrics[0].Phase; got != tc.want {
			t.Errorf("%s: %s, want %s", tc.desc, got, tc.want)
		}
	}
}

// A step's metric with an interval and no count measures until the step
// ends, as Argo's; a count ends it.
func TestIntervalWithoutCountRunsOn(t *testing.T) {
	m := metric(func(m *spec.Metric) { m.Count = 0; m.Interval = spec.Duration(time.Second) })
	r := run(t, m, &scripted{results: []float64{1}})
	if ms := r.Metrics[0]; ms.Phase != Running || ms.Looks < 5 {
		t.Fatalf("after %d looks: %s, want still Running", ms.Looks, ms.Phase)
	}
	m.Count = 3
	if r := run(t, m, &scripted{results: []float64{1}}); r.Metrics[0].Phase != Successful || r.Metrics[0].Looks != 3 {
		t.Fatalf("with count 3: %s after %d", r.Metrics[0].Phase, r.Metrics[0].Looks)
	}
}
