package spec_test

import (
	"strings"
	"testing"

	"github.com/cutover-dev/cutover/spec"
)

const plan = valid + `---
apiVersion: cutover.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: threshold}]
  metrics:
  - name: success
    interval: 10s
    count: 3
    successCondition: result[0] >= 0.99
    provider:
      prometheus:
        address: http://127.0.0.1:9090
        query: sum(rate(cutover_requests_total{route="api",code!~"5.."}[1m])) / sum(rate(cutover_requests_total{route="api"}[1m]))
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
      analysis:
        templates: [{templateName: success-rate}]
        args: [{name: threshold, value: "0.99"}]
        startingStep: 2
      steps:
      - setHeaderRoute:
          name: preview
          match: [{headerName: x-preview, headerValue: {exact: new}}]
      - setWeight: 34
      - pause: {duration: 60}
      - analysis:
          templates: [{templateName: success-rate}]
          args: [{name: threshold, value: "0.99"}]
      - setWeight: 100
`

func TestPlanParses(t *testing.T) {
	cfg, err := spec.Parse("plan.yaml", []byte(plan))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Rollouts) != 1 || len(cfg.Templates) != 1 {
		t.Fatalf("%d rollouts, %d templates", len(cfg.Rollouts), len(cfg.Templates))
	}
	steps := cfg.Rollouts[0].Spec.Strategy.Canary.Steps
	if d := steps[2].Pause.Duration.D().String(); d != "1m0s" {
		t.Fatalf("pause of 60 (Argo's seconds) read as %s", d)
	}
	if m := cfg.Templates[0].Spec.Metrics[0]; *m.ConsecutiveErrorLimit != 4 {
		t.Fatalf("consecutiveErrorLimit default %d, Argo's is 4", *m.ConsecutiveErrorLimit)
	}
}

// Argo fills {{args.*}} into the whole metric: conditions and a range
// query as well as the query.
func TestConditionsTakeArguments(t *testing.T) {
	withArg := strings.Replace(plan, "successCondition: result[0] >= 0.99", "successCondition: result[0] >= {{ args.threshold }}", 1)
	withArg = strings.Replace(withArg, "  args: [{name: threshold}]", `  args: [{name: threshold}, {name: since, value: "now() - duration('5m')"}, {name: step, value: 1m}]`, 1)
	withArg = strings.Replace(withArg, "        address: http://127.0.0.1:9090\n", "        address: http://127.0.0.1:9090\n        rangeQuery: {start: '{{args.since}}', end: now(), step: '{{ args.step }}'}\n", 1)
	if !strings.Contains(withArg, "rangeQuery") {
		t.Fatal("the test's template changed")
	}
	if _, err := spec.Parse("plan.yaml", []byte(withArg)); err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(plan, "successCondition: result[0] >= 0.99", "successCondition: result[0] >= {{ args.threshold }} &&", 1)
	if _, err := spec.Parse("plan.yaml", []byte(broken)); err == nil || !strings.Contains(err.Error(), "spec.metrics[0].successCondition") {
		t.Fatalf("a broken condition with an argument: %v", err)
	}
}

func TestPlanValidation(t *testing.T) {
	tests := []struct {
		desc, old, new, want string
	}{
		{"unknown route", "  route: api\n", "  route: apii\n", `spec.route: unknown route "apii"`},
		{"backend not in the route", "canaryService: new", "canaryService: other", `spec.strategy.canary.canaryService: "other" is not a backend of route "api"`},
		{"weight out of range", "      - setWeight: 34\n", "      - setWeight: 340\n", "steps[1].setWeight: 340 must be between 0 and 100"},
		{"a step that changes nothing", "      - setWeight: 100\n", "      - setWeight: 100\n      - setWeight: 100\n", "steps[5].setWeight: changes nothing: the weight is already 100"},
		{"managed route named like a gateway route", "          name: preview\n", "          name: rest\n", `steps[0].setHeaderRoute.name: "rest" is already the name of a gateway route`},
		{"mirror percentage", "      - setWeight: 34\n", "      - setMirrorRoute: {name: m, percentage: 110, match: [{path: {prefix: /}}]}\n", "steps[1].setMirrorRoute.percentage: 110 must be between 0 and 100"},
		{"mirror and header route share a name", "      - setWeight: 34\n", "      - setMirrorRoute: {name: preview, match: [{path: {prefix: /}}]}\n", `steps[1].setMirrorRoute.name: "preview" is already the name of a header route`},
		{"two kinds in one step", "      - setWeight: 34\n", "      - setWeight: 34\n        pause: {}\n", "steps[1]: set exactly one of setWeight, pause, setHeaderRoute, setMirrorRoute or analysis"},
		{"trafficRouting", "      stableService: legacy\n", "      stableService: legacy\n      trafficRouting: {istio: {}}\n", "spec.strategy.canary.trafficRouting: remove it: the gateway routes the traffic itself"},
		{"unknown template", "      - analysis:\n          templates: [{templateName: success-rate}]", "      - analysis:\n          templates: [{templateName: nope}]", `steps[3].analysis.templates[0].templateName: unknown AnalysisTemplate "nope"`},
		{"missing argument", "        args: [{name: threshold, value: \"0.99\"}]\n        startingStep", "        startingStep", `spec.strategy.canary.analysis.args: template "success-rate" needs argument "threshold"`},
		{"bad condition", "successCondition: result[0] >= 0.99", "successCondition: result[0] >=", "spec.metrics[0].successCondition: unexpected token EOF"},
		{"bad judge", "      - setWeight: 100\n", "      - analysis:\n          metrics:\n          - name: j\n            provider: {gateway: {judge: {errorRate: {maxIncrease: 2}}}}\n      - setWeight: 100\n", "steps[4].analysis.metrics[0].provider.gateway.judge.errorRate.maxIncrease: must be between 0 and 1"},
		{"load provider", "      - setWeight: 100\n", "      - analysis:\n          metrics:\n          - name: l\n            successCondition: result.p99 < 0.2\n            provider: {load: {url: 'ftp://x', rate: fast}}\n      - setWeight: 100\n", `steps[4].analysis.metrics[0].provider.load.rate: "fast" is not a rate such as 100/s`},
		{"load provider url", "      - setWeight: 100\n", "      - analysis:\n          metrics:\n          - name: l\n            successCondition: result.p99 < 0.2\n            provider: {load: {url: 'ftp://x', rate: 10/s, duration: 10s}}\n      - setWeight: 100\n", `steps[4].analysis.metrics[0].provider.load.url: "ftp://x" is not an http(s) URL`},
		{"failureLimit -1 without a streak", "    count: 3\n", "    count: 3\n    failureLimit: -1\n", "spec.metrics[0].failureLimit: -1 (no limit) needs consecutiveSuccessLimit"},
		{"failureLimit below -1", "    count: 3\n", "    count: 3\n    failureLimit: -2\n", "spec.metrics[0].failureLimit: must be -1 (no limit) or more"},
		{"range query step", "        address: http://127.0.0.1:9090\n", "        address: http://127.0.0.1:9090\n        rangeQuery: {start: \"now() - duration('5m')\", end: \"now()\", step: often}\n", `spec.metrics[0].provider.prometheus.rangeQuery.step: "often" is not a duration`},
		{"range query start", "        address: http://127.0.0.1:9090\n", "        address: http://127.0.0.1:9090\n        rangeQuery: {start: yesterday, end: \"now()\", step: 1m}\n", `spec.metrics[0].provider.prometheus.rangeQuery.start: "yesterday" is not a time expression`},
		{"timeout zero", "        address: http://127.0.0.1:9090\n", "        address: http://127.0.0.1:9090\n        timeout: 0\n", "invalid timeout"},
		{"notification url", "  route: api\n", "  route: api\n  notifications: [{name: team, url: 'hooks.slack.com/x'}]\n", "spec.notifications[0].url: is not an http(s) URL"},
		{"notification event and format", "  route: api\n", "  route: api\n  notifications: [{name: team, url: 'https://x', format: teams, events: [started]}]\n", `spec.notifications[0].format: "teams" is not a format (json, slack)`},
		{"notification event", "  route: api\n", "  route: api\n  notifications: [{name: team, url: 'https://x', events: [started]}]\n", `spec.notifications[0].events[0]: "started" is not an event (stepStarted, paused, analysisVerdict, promoted, aborted, completed, degraded, configRefused)`},
		{"notification url twice", "  route: api\n", "  route: api\n  notifications: [{name: team, url: 'https://x', urlFile: /dev/null}, {name: team, urlFile: /nonexistent}]\n", "spec.notifications[0]: give url or urlFile, not both"},
		{"notification names", "  route: api\n", "  route: api\n  notifications: [{name: team, url: 'https://x'}, {name: team, url: 'https://y'}]\n", `spec.notifications[1].name: duplicate notification name "team"`},
		{"starting step out of range", "startingStep: 2", "startingStep: 9", "spec.strategy.canary.analysis.startingStep: 9 is not a step index (0-4)"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			src := strings.Replace(plan, tc.old, tc.new, 1)
			if src == plan {
				t.Fatal("the test did not change the plan")
			}
			_, err := spec.Parse("plan.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("errors:\n%v\nwant one containing\n%s", err, tc.want)
			}
			if !strings.Contains(err.Error(), "plan.yaml:") {
				t.Fatalf("no position: %v", err)
			}
		})
	}
}

// A plan may live in a file of its own; its errors name that file.
// Argo's Prometheus fields load as Argo writes them: timeout in whole
// seconds, headers, a range query.
func TestArgoPrometheusFields(t *testing.T) {
	src := strings.Replace(plan, "        address: http://127.0.0.1:9090\n", "        address: http://127.0.0.1:9090\n        timeout: 30\n        headers: [{key: X-Scope-OrgID, value: team-a}]\n        rangeQuery: {start: \"now() - duration('5m')\", end: \"now()\", step: 1m}\n", 1)
	cfg, err := spec.Parse("plan.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	pr := cfg.Templates[0].Spec.Metrics[0].Provider.Prometheus
	if pr.Timeout.D().Seconds() != 30 || pr.Headers[0].Value != "team-a" || pr.RangeQuery.Step != "1m" {
		t.Fatalf("prometheus provider %+v", pr)
	}
}

func TestPlanInItsOwnFile(t *testing.T) {
	i := strings.Index(plan, "---\napiVersion: cutover.dev/v1alpha1\nkind: AnalysisTemplate")
	gw, pl := plan[:i], plan[i+4:]
	cfg, err := spec.ParseSources([]spec.Source{{File: "gw.yaml", Data: []byte(gw)}, {File: "plan.yaml", Data: []byte(pl)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Rollouts) != 1 || len(cfg.Files) != 2 {
		t.Fatalf("%d rollouts from %v", len(cfg.Rollouts), cfg.Files)
	}
	_, err = spec.ParseSources([]spec.Source{{File: "gw.yaml", Data: []byte(gw)}, {File: "plan.yaml", Data: []byte(strings.Replace(pl, "route: api", "route: nope", 1))}})
	if err == nil || !strings.Contains(err.Error(), `plan.yaml:20:3: spec.route: unknown route "nope"`) {
		t.Fatalf("error in the plan file: %v", err)
	}
}
