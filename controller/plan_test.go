package controller

import (
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/spec"
)

// TestExampleIsAValidPlan checks the example users copy from, and the
// Cutover that cutover generate writes for the sample's migrating service.
func TestExampleIsAValidPlan(t *testing.T) {
	for file, steps := range map[string]int{
		"../examples/kubernetes/cutover-istio.yaml":                              7,
		"../examples/manifests/overlays/production/account/cutover-account.yaml": 7,
	} {
		t.Run(file, func(t *testing.T) { checkExample(t, file, steps) })
	}
}

func checkExample(t *testing.T, file string, steps int) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, doc := range strings.Split(string(data), "\n---\n") {
		if !strings.Contains(doc, "kind: Cutover") {
			continue
		}
		found = true
		co := &v1alpha1.Cutover{}
		if err := yaml.UnmarshalStrict([]byte(doc), co); err != nil {
			t.Fatal(err)
		}
		plan, err := planFor(co)
		if err != nil {
			t.Fatalf("the example's plan: %v", err)
		}
		if len(plan.Steps) != steps {
			t.Errorf("%d steps", len(plan.Steps))
		}
	}
	if !found {
		t.Fatal("no Cutover in the example")
	}
}

func TestPlanProblemsCarryTheCutoversFieldPaths(t *testing.T) {
	co := &v1alpha1.Cutover{}
	err := yaml.UnmarshalStrict([]byte(`
metadata: {name: web}
spec:
  strategy:
    canary:
      steps:
      - setWeight: 10
      - pause: {duration: 5x}
      - analysis: {templates: [{templateName: rate}]}
  analysisTemplates:
  - name: rate
    spec:
      metrics:
      - name: errors
        interval: soon
        provider: {prometheus: {address: "http://prom:9090", query: "up"}}
`), co)
	if err != nil {
		t.Fatal(err)
	}
	_, err = planFor(co)
	for _, want := range []string{
		"spec.strategy.canary.steps[1].pause.duration: ",
		"spec.analysisTemplates[0].spec.metrics[0].interval: ",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want a problem at %s; err = %v", want, err)
		}
	}
}

// The check fills in defaults and turns a blueGreen into the canary steps
// it amounts to; the Cutover it was given is the informer's and must not
// change.
func TestPlanLeavesTheCutoverAsItWas(t *testing.T) {
	co := &v1alpha1.Cutover{}
	co.Name = "web"
	co.Spec.Strategy.BlueGreen = &spec.BlueGreenStrategy{}
	before := co.DeepCopy()
	plan, err := planFor(co)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Stable != "stable" || plan.Canary != "canary" || len(plan.Steps) == 0 {
		t.Errorf("plan sides %q/%q, %d steps", plan.Stable, plan.Canary, len(plan.Steps))
	}
	if !equality.Semantic.DeepEqual(before, co) {
		t.Errorf("planFor changed the Cutover: strategy now %+v", co.Spec.Strategy)
	}
}
