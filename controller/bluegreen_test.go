package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/cutover-dev/cutover/api/v1alpha1"
)

const blueGreenPlan = `apiVersion: cutover.dev/v1alpha1
kind: Cutover
metadata: {name: web, namespace: shop}
spec:
  stable: {service: web-stable}
  canary: {service: web-canary}
  strategy:
    blueGreen: {autoPromotionEnabled: false}
  trafficRouting:
%s
`

// Argo's blueGreen on Istio: nothing moves before promote; then the whole
// weight at once.
func TestIstioBlueGreenSwitchesAtOnce(t *testing.T) {
	h := newHarness(t)
	h.apply(virtualService)
	stopWatch := h.watchWeights()
	h.startController()
	h.apply(fmt.Sprintf(blueGreenPlan, istioRouting))
	h.waitFor("web", "the pause before promotion", phaseAt("Paused", 0))
	if canary, _, _ := h.vsState(); canary != 0 {
		t.Fatalf("the preview has %d %% before promotion", canary)
	}
	if msg := h.command("web", "promote"); msg != "" {
		t.Fatalf("promote: %s", msg)
	}
	h.waitFor("web", "completion", func(co *v1alpha1.Cutover) bool { return co.Status.Phase == "Completed" })
	h.eventually("the VirtualService at 100 %", func() bool { canary, _, _ := h.vsState(); return canary == 100 })
	// Argo's default scaleDownDelaySeconds: the stable side may go 30 s on.
	co := h.waitFor("web", "status.decommissionFrom", func(co *v1alpha1.Cutover) bool { return co.Status.DecommissionFrom != nil })
	if d := co.Status.DecommissionFrom; d == nil || time.Until(d.Time) < 20*time.Second || time.Until(d.Time) > 31*time.Second {
		t.Errorf("status.decommissionFrom %v", d)
	}
	if seen := stopWatch(); fmt.Sprint(seen) != "[0 100]" {
		t.Errorf("canary weights seen: %v; want [0 100]", seen)
	}
}

// The Gateway API router under a blueGreen aborted after the switch, while
// a timed pause (Argo's integer seconds) holds it: back to the active side.
func TestGatewayAPIBlueGreenAbortSwitchesBack(t *testing.T) {
	h := newHarness(t)
	h.apply(httpRoute)
	h.startController()
	h.apply(fmt.Sprintf(strings.Replace(blueGreenPlan, "blueGreen: {autoPromotionEnabled: false}", "blueGreen: {autoPromotionSeconds: 1, postPromotionAnalysis: {templates: [{templateName: forever}]}}", 1)+
		`  analysisTemplates:
  - name: forever
    spec:
      metrics:
      - name: up
        interval: 1h
        successCondition: result == 1
        provider: {prometheus: {address: "http://127.0.0.1:1", query: up}}
`, `    gatewayAPI:
      httpRoute: {name: web}`))
	h.waitFor("web", "the post-promotion analysis", phaseAt("Analyzing", 2))
	h.eventually("the HTTPRoute at 100 %", func() bool { return h.routeCanaryWeight() == 100 })
	if msg := h.command("web", "abort"); msg != "" {
		t.Fatal(msg)
	}
	h.waitFor("web", "Aborted", func(co *v1alpha1.Cutover) bool { return co.Status.Phase == "Aborted" })
	h.eventually("the HTTPRoute back at 0 %", func() bool { return h.routeCanaryWeight() == 0 })
}

// The CRD takes Argo's pause durations, integer seconds or a duration
// string; the controller refuses a bad one with its field path.
func TestCRDTakesArgoPauseDurations(t *testing.T) {
	h := newHarness(t)
	h.apply(virtualService)
	h.startController()
	for i, tc := range []struct{ duration, refusal string }{
		{"600", ""}, {`"90s"`, ""}, {`"5x"`, `spec.strategy.canary.steps[2].pause.duration`}, {"-1", "spec.strategy.canary.steps[2].pause.duration: must not be negative"},
	} {
		name := fmt.Sprintf("p%d", i)
		doc := strings.Replace(fmt.Sprintf(plan, name, istioRouting), "pause: {duration: 700ms}", "pause: {duration: "+tc.duration+"}", 1)
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if err := h.c.Create(h.ctx, u); err != nil {
			t.Fatalf("duration %s refused by the API server: %v", tc.duration, err)
		}
		if tc.refusal == "" {
			h.waitFor(name, "the timed pause", phaseAt("Paused", 2))
			continue
		}
		co := h.waitFor(name, "refusal", func(co *v1alpha1.Cutover) bool { return co.Status.Phase == PhaseInvalid })
		if !strings.Contains(co.Status.Message, tc.refusal) {
			t.Errorf("duration %s: %q, want %q", tc.duration, co.Status.Message, tc.refusal)
		}
	}
}

// A Cutover's blueGreen takes previewHeader and scaleDownDelaySeconds as
// the gateway's does.
func TestBlueGreenPreviewHeaderInACutover(t *testing.T) {
	co := &v1alpha1.Cutover{}
	co.Name = "web"
	if err := yaml.Unmarshal([]byte(`spec:
  strategy:
    blueGreen:
      autoPromotionEnabled: false
      scaleDownDelaySeconds: 60
      previewHeader: {headerName: x-preview, headerValue: {exact: "yes"}}
`), co); err != nil {
		t.Fatal(err)
	}
	p, err := planFor(co)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 3 || p.Steps[0].SetHeaderRoute == nil || p.Steps[0].SetHeaderRoute.Name != "preview" || p.ScaleDownDelay.Seconds() != 60 {
		t.Fatalf("plan %+v", p)
	}
}
