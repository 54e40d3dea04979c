package spec_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/cutover-dev/cutover/spec"
)

// blueGreen is valid with the api route's canary weight at 0.
var blueGreenBase = strings.Replace(valid, "      weight: 90\n    - name: new\n      weight: 10", "      weight: 100\n    - name: new\n      weight: 0", 1)

func TestBlueGreenIsTheCanaryStepsItAmountsTo(t *testing.T) {
	for _, tc := range []struct {
		name, strategy string
		want           []string
	}{
		{"auto promotion", `{activeService: legacy, previewService: new}`, []string{"setWeight: 100"}},
		{"manual promotion", `{activeService: legacy, previewService: new, autoPromotionEnabled: false, autoPromotionSeconds: 30}`,
			[]string{"pause: until promoted", "setWeight: 100"}},
		{"timed promotion", `{activeService: legacy, previewService: new, autoPromotionSeconds: 30}`,
			[]string{"pause: 30s", "setWeight: 100"}},
		{"analyses", `{activeService: legacy, previewService: new,
        prePromotionAnalysis: {metrics: [{name: pre, successCondition: result < 0.01, provider: {gateway: {value: errorRate}}}]},
        postPromotionAnalysis: {metrics: [{name: post, successCondition: result < 0.01, provider: {gateway: {value: errorRate}}}]}}`,
			[]string{"analysis: pre", "setWeight: 100", "analysis: post"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := blueGreenBase + "---\napiVersion: cutover.dev/v1alpha1\nkind: Rollout\nmetadata: {name: api}\nspec:\n  route: api\n  strategy:\n    blueGreen: " + tc.strategy + "\n"
			cfg, err := spec.Parse("bg.yaml", []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			c := cfg.Rollouts[0].Spec.Strategy.Canary
			if c.StableService != "legacy" || c.CanaryService != "new" {
				t.Fatalf("sides %q→%q", c.StableService, c.CanaryService)
			}
			var got []string
			for _, s := range c.Steps {
				got = append(got, describe(s))
			}
			if strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
				t.Fatalf("steps %q, want %q", got, tc.want)
			}
		})
	}
}

func describe(s spec.Step) string {
	switch {
	case s.SetWeight != nil:
		return "setWeight: " + strconv.Itoa(*s.SetWeight)
	case s.Pause != nil && s.Pause.Duration == nil:
		return "pause: until promoted"
	case s.Pause != nil:
		return "pause: " + s.Pause.Duration.D().String()
	case s.Analysis != nil:
		return "analysis: " + s.Analysis.Metrics[0].Name
	}
	return "?"
}

func TestBlueGreenRefusals(t *testing.T) {
	for _, tc := range []struct{ base, strategy, want string }{
		{blueGreenBase, `{previewService: new}`, "bg.yaml:35:5: spec.strategy.blueGreen.activeService: required: a backend of route \"api\""},
		{blueGreenBase, `{activeService: legacy, previewService: nope}`, `spec.strategy.blueGreen.previewService: "nope" is not a backend of route "api"`},
		{blueGreenBase, `{activeService: legacy, previewService: legacy}`, "spec.strategy.blueGreen.previewService: must differ from activeService"},
		{valid, `{activeService: legacy, previewService: new}`, `backend "new" has weight 10 in route "api": blueGreen switches all traffic at once`},
		{blueGreenBase, `{activeService: legacy, previewService: new, autoPromotionSeconds: -1}`, "autoPromotionSeconds: must not be negative"},
		{blueGreenBase, `{activeService: legacy, previewService: new, scaleDownDelaySeconds: -1}`, "scaleDownDelaySeconds: must not be negative"},
		{blueGreenBase, `{activeService: legacy, previewService: new, previewHeader: {headerName: "bad header", headerValue: {exact: x}}}`, `previewHeader.headerName: "bad header" is not a valid header name`},
		{blueGreenBase, `{activeService: legacy, previewService: new, previewHeader: {headerName: x-preview}}`, "previewHeader.headerValue: required"},
		{blueGreenBase, `{activeService: legacy, previewService: new, prePromotionAnalysis: {templates: [{templateName: nope}]}}`, `prePromotionAnalysis.templates[0].templateName: unknown AnalysisTemplate "nope"`},
	} {
		doc := tc.base + "---\napiVersion: cutover.dev/v1alpha1\nkind: Rollout\nmetadata: {name: api}\nspec:\n  route: api\n  strategy:\n    blueGreen: " + tc.strategy + "\n"
		_, err := spec.Parse("bg.yaml", []byte(doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.strategy, err, tc.want)
		}
	}
}

// Argo's pod fields are accepted with a warning at their place; what the
// gateway cannot do is refused with the reason.
func TestArgoPodFieldsWarnAndPluginsAreRefused(t *testing.T) {
	doc := valid + `---
apiVersion: cutover.dev/v1alpha1
kind: Rollout
metadata: {name: api}
spec:
  replicas: 5
  route: api
  template: {spec: {containers: [{name: app, image: app:v2}]}}
  strategy:
    canary:
      stableService: legacy
      canaryService: new
      maxSurge: "25%"
      dynamicStableScale: true
      steps:
      - setCanaryScale: {replicas: 3}
      - setWeight: 20
      - experiment: {templates: [{name: baseline, specRef: stable}]}
      - setWeight: 50
`
	cfg, err := spec.Parse("argo.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, w.Error())
	}
	want := []string{
		"argo.yaml:33:3: spec.replicas: ignored: the gateway does not run the pods",
		"argo.yaml:35:3: spec.template: ignored:",
		"argo.yaml:40:7: spec.strategy.canary.maxSurge: ignored: it sizes ReplicaSets",
		"argo.yaml:41:7: spec.strategy.canary.dynamicStableScale: ignored:",
		"argo.yaml:43:9: spec.strategy.canary.steps[0].setCanaryScale: ignored:",
		"argo.yaml:45:9: spec.strategy.canary.steps[2].experiment: ignored:",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d: %q, want prefix %q", i, got[i], want[i])
		}
	}
	steps := cfg.Rollouts[0].Spec.Strategy.Canary.Steps
	if !steps[0].PodsOnly || steps[1].PodsOnly || !steps[2].PodsOnly {
		t.Fatalf("pods-only steps: %v %v %v", steps[0].PodsOnly, steps[1].PodsOnly, steps[2].PodsOnly)
	}

	for field, want := range map[string]string{
		"      - plugin: {name: argoproj-labs/step-exec}\n":                                     "steps[3].plugin: a step plugin runs code loaded into Argo's controller",
		"      - analysis: {metrics: [{name: m, provider: {plugin: {argoproj-labs/x: {}}}}]}\n": "provider.plugin: a metric plugin runs code",
		"      - analysis: {metrics: [{name: m, provider: {job: {spec: {}}}}]}\n":               "provider.job: the job provider runs a Kubernetes Job",
		"      - analysis: {metrics: [{name: m, successCondition: result < 1, provider: {gateway: {value: errorRate}}}], args: [{name: a, valueFrom: {secretKeyRef: {name: s, key: k}}}]}\n": "args[0].valueFrom: valueFrom reads a Secret",
	} {
		bad := strings.Replace(doc, "      - setWeight: 50\n", field, 1)
		_, err := spec.Parse("argo.yaml", []byte(bad))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("got %v, want only %q", err, want)
		}
	}
}

// Argo fills {{args.NAME}} into typed fields too; a value that does not
// fit the field is refused where the plan gives it.
func TestArgumentsInTypedMetricFields(t *testing.T) {
	doc := valid + `---
apiVersion: cutover.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: rate}
spec:
  args: [{name: every, value: 5s}, {name: times}]
  metrics:
  - name: rate
    interval: "{{args.every}}"
    count: "{{ args.times }}"
    failureLimit: "{{args.times}}"
    successCondition: result < 0.01
    provider: {gateway: {value: errorRate}}
---
apiVersion: cutover.dev/v1alpha1
kind: Rollout
metadata: {name: api}
spec:
  route: api
  strategy:
    canary:
      stableService: legacy
      canaryService: new
      steps:
      - analysis: {templates: [{templateName: rate}], args: [{name: times, value: "TIMES"}]}
`
	cfg, err := spec.Parse("args.yaml", []byte(strings.Replace(doc, "TIMES", "3", 1)))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Templates[0].Spec.Metrics[0]
	if err := m.ApplyArgs(map[string]string{"every": "5s", "times": "3"}); err != nil || m.Count != 3 || m.FailureLimit != 3 || m.Interval.D().Seconds() != 5 {
		t.Fatalf("%+v %v", m, err)
	}
	_, err = spec.Parse("args.yaml", []byte(strings.Replace(doc, "TIMES", "three", 1)))
	if err == nil || !strings.Contains(err.Error(), `spec.strategy.canary.steps[0].analysis.args: template "rate": metric "rate": `) || !strings.Contains(err.Error(), `"three"`) {
		t.Fatalf("got %v", err)
	}
}

func TestWebProviderValidation(t *testing.T) {
	for provider, want := range map[string]string{
		`{web: {url: "http://checks:8080/{{args.service}}", jsonPath: "{$.data}"}}`: "",
		`{web: {url: "checks:8080"}}`:                                                     `provider.web.url: "checks:8080" is not an http(s) URL`,
		`{web: {url: "http://checks", body: "x"}}`:                                        "provider.web.method: body and jsonBody need POST or PUT",
		`{web: {url: "http://checks", method: DELETE}}`:                                   `provider.web.method: "DELETE" is not GET, POST or PUT`,
		`{web: {url: "http://checks", method: POST, body: "x", jsonBody: {a: 1}}}`:        "provider.web.jsonBody: give body or jsonBody, not both",
		`{web: {url: "http://checks", jsonPath: "{$.data"}}`:                              "provider.web.jsonPath: unclosed action",
		`{web: {url: "http://checks", authentication: {oauth2: {tokenUrl: "http://t"}}}}`: "provider.web.authentication: OAuth2 for the web provider is not supported",
	} {
		doc := valid + "---\napiVersion: cutover.dev/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: w}\nspec:\n  args: [{name: service}]\n  metrics:\n  - name: w\n    successCondition: result.ok\n    provider: " + provider + "\n"
		_, err := spec.Parse("web.yaml", []byte(doc))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", provider, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: got %v, want %q", provider, err, want)
		}
	}
}

func TestDatadogProviderValidation(t *testing.T) {
	for provider, want := range map[string]string{
		`{datadog: {query: "avg:errors{*}"}}`:                                                     "",
		`{datadog: {apiVersion: v2, queries: {a: "x", b: "y"}, formula: "a/b", aggregator: avg}}`: "",
		`{datadog: {}}`: "provider.datadog: set query or queries",
		`{datadog: {query: x, queries: {a: y}, apiVersion: v2}}`: "provider.datadog.queries: give query or queries, not both",
		`{datadog: {queries: {a: y}}}`:                           "apiVersion v1 takes query only",
		`{datadog: {query: x, aggregator: avg}}`:                 "apiVersion v1 has no aggregator",
		`{datadog: {apiVersion: v3, query: x}}`:                  `provider.datadog.apiVersion: "v3" is not v1 or v2`,
		`{datadog: {apiVersion: v2, queries: {a: x, b: y}}}`:     "provider.datadog.formula: required with more than one query",
		`{datadog: {query: x, secretRef: {name: dd}}}`:           "provider.datadog.secretRef: it reads the keys from a Kubernetes Secret",
	} {
		doc := valid + "---\napiVersion: cutover.dev/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: d}\nspec:\n  metrics:\n  - name: d\n    successCondition: result < 1\n    provider: " + provider + "\n"
		cfg, err := spec.Parse("dd.yaml", []byte(doc))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", provider, err)
		case want == "" && cfg.Templates[0].Spec.Metrics[0].Provider.Datadog.Interval.D().Minutes() != 5:
			t.Errorf("%s: interval %v, want Argo's 5m", provider, cfg.Templates[0].Spec.Metrics[0].Provider.Datadog.Interval)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: got %v, want %q", provider, err, want)
		}
	}
}

func TestDryRunAndRetentionOptions(t *testing.T) {
	doc := valid + `---
apiVersion: cutover.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: errors}
spec:
  dryRun: [{metricName: total-5xx-errors}]
  measurementRetention: [{metricName: ".*", limit: 20}]
  metrics:
  - {name: total-5xx-errors, failureCondition: result > 10, provider: {gateway: {value: requests}}}
  - {name: total-4xx-errors, failureCondition: result > 10, provider: {gateway: {value: requests}}}
`
	cfg, err := spec.Parse("dry.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	ms := cfg.Templates[0].Spec.Metrics
	cfg.Templates[0].Spec.RunOptions.Apply(ms)
	if !ms[0].DryRun || ms[1].DryRun || ms[0].Retain != 20 || ms[1].Retain != 20 {
		t.Fatalf("options: %v/%d %v/%d", ms[0].DryRun, ms[0].Retain, ms[1].DryRun, ms[1].Retain)
	}
	_, err = spec.Parse("dry.yaml", []byte(strings.Replace(doc, "metricName: total-5xx-errors", "metricName: latency", 1)))
	if err == nil || !strings.Contains(err.Error(), `dry.yaml:33:13: spec.dryRun[0].metricName: "latency" names no metric of the analysis`) {
		t.Fatalf("got %v", err)
	}
	_, err = spec.Parse("dry.yaml", []byte(strings.Replace(doc, "limit: 20", "limit: 0", 1)))
	if err == nil || !strings.Contains(err.Error(), "spec.measurementRetention[0].limit: must be positive") {
		t.Fatalf("got %v", err)
	}
}

// Argo's template composition: a template made of others gathers their
// metrics and arguments; an unknown one or a cycle is refused.
func TestComposedTemplates(t *testing.T) {
	tpl := func(name, body string) string {
		return "---\napiVersion: cutover.dev/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: " + name + "}\nspec:\n" + body
	}
	doc := valid + tpl("errors", "  args: [{name: limit}]\n  metrics: [{name: errors, successCondition: result < 0.01, provider: {gateway: {value: errorRate}}}]\n") +
		tpl("latency", "  metrics: [{name: p99, successCondition: result < 0.5, provider: {gateway: {value: p99}}}]\n") +
		tpl("combined", "  templates: [{templateName: errors}, {templateName: latency}]\n")
	cfg, err := spec.Parse("c.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	templates := map[string]*spec.AnalysisTemplate{}
	for _, at := range cfg.Templates {
		templates[at.Metadata.Name] = at
	}
	r, err := spec.Resolve("combined", templates)
	if err != nil || len(r.Metrics) != 2 || r.Metrics[0].Name != "errors" || r.Metrics[1].Name != "p99" || len(r.Args) != 1 {
		t.Fatalf("resolved %+v, %v", r, err)
	}
	plan := "---\napiVersion: cutover.dev/v1alpha1\nkind: Rollout\nmetadata: {name: api}\nspec:\n  route: api\n  strategy:\n    canary:\n      stableService: legacy\n      canaryService: new\n      steps:\n      - analysis: {templates: [{templateName: combined}]}\n"
	if _, err := spec.Parse("c.yaml", []byte(doc+plan)); err == nil || !strings.Contains(err.Error(), `template "combined" needs argument "limit"`) {
		t.Fatalf("the composed template's argument: %v", err)
	}
	for body, want := range map[string]string{
		"  templates: [{templateName: nope}]\n":                             `spec.templates[0].templateName: unknown AnalysisTemplate "nope"`,
		"  templates: [{templateName: errors}, {templateName: combined}]\n": "templates compose a cycle: combined -> combined",
	} {
		bad := strings.Replace(doc, "  templates: [{templateName: errors}, {templateName: latency}]\n", body, 1)
		if _, err := spec.Parse("c.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}
