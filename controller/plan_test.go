package controller

import (
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/cutover-dev/cutover/api/v1alpha1"
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
	w := int32(10)
	co := &v1alpha1.Cutover{}
	co.Name = "web"
	co.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{Steps: []v1alpha1.Step{{SetWeight: &w}, {Pause: &v1alpha1.Pause{Duration: ptr.To(intstr.FromString("5x"))}}}}
	_, err := planFor(co)
	if err == nil || !strings.Contains(err.Error(), "spec.strategy.canary.steps[1].pause.duration") {
		t.Errorf("err = %v", err)
	}
}
