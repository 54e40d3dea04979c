package convert_test

import (
	"strings"
	"testing"

	"github.com/cutover-dev/cutover/convert"
	"github.com/cutover-dev/cutover/spec"
)

const istioRollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: reviews
  namespace: shop
  annotations: {team: web}
spec:
  replicas: 4
  strategy:
    canary:
      stableService: reviews-stable
      canaryService: reviews-canary
      trafficRouting:
        istio:
          virtualService: {name: reviews-vs, routes: [primary]}
      steps:
      - setWeight: 20
      - pause: {duration: 600}
      - analysis:
          templates: [{templateName: success-rate, clusterScope: true}]
          args: [{name: service, value: reviews}]
---
apiVersion: v1
kind: Service
metadata: {name: reviews-canary}
spec:
  ports: [{port: 9080}]
---
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: service}, {name: interval, value: 30s}]
  metrics:
  - name: success-rate
    interval: "{{args.interval}}"
    successCondition: result >= 0.95
    provider:
      prometheus:
        address: http://prometheus:9090
        query: sum(rate(requests{service="{{args.service}}",code!~"5.."}[1m])) / sum(rate(requests{service="{{args.service}}"}[1m]))
`

// A whole Argo file, trafficRouting and Kubernetes metadata included,
// becomes a config that validates: the route named after the
// VirtualService, a backend per Service at its port, the template with
// its argument-filled interval.
func TestConvertArgoIstioCanary(t *testing.T) {
	out, notes, err := convert.Argo([]spec.Source{{File: "reviews.yaml", Data: []byte(istioRollout)}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range notes {
		got = append(got, n.String())
	}
	for _, want := range []string{
		"reviews.yaml:29: ClusterAnalysisTemplate success-rate became an AnalysisTemplate",
		"reviews.yaml:5: metadata.namespace left out",
		"reviews.yaml:6: metadata.annotations left out",
		`reviews.yaml:13: strategy.canary.trafficRouting left out: the gateway routes the traffic itself, on route "reviews-vs"`,
	} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("notes lack %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
	cfg, err := spec.Parse("cutover.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	g := cfg.Gateway.Spec
	if len(g.Routes) != 1 || g.Routes[0].Name != "reviews-vs" || cfg.Rollouts[0].Spec.Route != "reviews-vs" {
		t.Fatalf("routes %+v", g.Routes)
	}
	eps := map[string]string{}
	for _, b := range g.Backends {
		eps[b.Name] = b.Endpoints[0]
	}
	if eps["reviews-stable"] != "http://reviews-stable:80" || eps["reviews-canary"] != "http://reviews-canary:9080" {
		t.Fatalf("endpoints %v", eps)
	}
	if w := cfg.Warnings; len(w) != 1 || !strings.Contains(w[0].Error(), "spec.replicas: ignored") {
		t.Fatalf("warnings %v", w)
	}
	steps := cfg.Rollouts[0].Spec.Strategy.Canary.Steps
	if *steps[0].SetWeight != 20 || steps[1].Pause.Duration.D().Minutes() != 10 || steps[2].Analysis.Templates[0].TemplateName != "success-rate" {
		t.Fatalf("steps %+v", steps)
	}
	if m := cfg.Templates[0].Spec.Metrics[0]; m.Deferred["interval"] != "{{args.interval}}" {
		t.Fatalf("interval %+v", m)
	} else if err := m.ApplyArgs(map[string]string{"interval": "30s"}); err != nil || m.Interval.D().Seconds() != 30 {
		t.Fatalf("interval after the arguments: %v %v", m.Interval, err)
	}
}

func TestConvertArgoRefusesARolloutWithoutStrategy(t *testing.T) {
	_, _, err := convert.Argo([]spec.Source{{File: "r.yaml", Data: []byte("apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec: {replicas: 2}\n")}})
	if err == nil || err.Error() != "r.yaml:1: Rollout r has neither spec.strategy.canary nor spec.strategy.blueGreen (Argo refuses it too)" {
		t.Fatalf("got %v", err)
	}
}

// Subset-level splitting needs the DestinationRule's host, which only the
// input can give.
func TestConvertArgoKubeSubsetsNeedTheDestinationRule(t *testing.T) {
	rollout := `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  strategy:
    canary:
      trafficRouting:
        istio:
          virtualService: {name: web-vs, routes: [primary]}
          destinationRule: {name: web-dr, canarySubsetName: canary, stableSubsetName: stable}
      steps: [{setWeight: 10}]
`
	_, _, err := convert.ArgoKube([]spec.Source{{File: "r.yaml", Data: []byte(rollout)}})
	if err == nil || !strings.Contains(err.Error(), "r.yaml:1: Rollout web splits by DestinationRule subsets: give its DestinationRule") {
		t.Fatalf("got %v", err)
	}
	dr := "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web-dr}\nspec: {host: web.shop.svc.cluster.local}\n"
	out, _, err := convert.ArgoKube([]spec.Source{{File: "r.yaml", Data: []byte(rollout + dr)}})
	if err != nil || !strings.Contains(string(out), "stable: {service: web.shop.svc.cluster.local}") {
		t.Fatalf("%v\n%s", err, out)
	}
}
