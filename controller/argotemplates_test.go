package controller

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cutover-dev/cutover/api/v1alpha1"
)

// A team's Argo templates in the cluster are used as they are: a
// namespaced one composed of another, and a ClusterAnalysisTemplate, both
// measured with Argo's web provider against a real server.
func TestCutoverUsesArgoTemplatesInTheCluster(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	var calls atomic.Int64
	checks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		fmt.Fprintf(w, `{"data": {"ok": %v, "service": %q}}`, healthy.Load(), r.URL.Query().Get("service"))
	}))
	defer checks.Close()
	h := newHarness(t)
	h.apply(virtualService)
	h.apply(fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke, namespace: shop}
spec:
  args: [{name: service}]
  metrics:
  - name: smoke
    successCondition: result.ok && result.service == "web-canary"
    provider:
      web: {url: "%s/check?service={{args.service}}", jsonPath: "{$.data}"}
`, checks.URL))
	h.apply(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: release-checks, namespace: shop}
spec:
  templates: [{templateName: smoke}]
`)
	h.apply(fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: platform-checks}
spec:
  metrics:
  - name: platform
    successCondition: result.ok
    provider:
      web: {url: "%s/platform", jsonPath: "{$.data}"}
`, checks.URL))
	h.startController()
	h.apply(strings.Replace(fmt.Sprintf(plan, "web", istioRouting), "      - pause: {}\n", `      - analysis:
          templates: [{templateName: release-checks}, {templateName: platform-checks, clusterScope: true}]
          args: [{name: service, value: web-canary}]
`, 1))
	co := h.waitFor("web", "completion", func(co *v1alpha1.Cutover) bool {
		return co.Status.Phase == "Completed" || co.Status.Phase == "Aborted" || co.Status.Phase == PhaseInvalid
	})
	if co.Status.Phase != "Completed" || calls.Load() < 2 {
		t.Fatalf("phase %s (%s) after %d checks", co.Status.Phase, co.Status.Message, calls.Load())
	}

	// A template that is in neither the Cutover nor the cluster is refused
	// by name.
	h.apply(strings.Replace(fmt.Sprintf(plan, "other", istioRouting), "      - pause: {}\n", "      - analysis: {templates: [{templateName: missing}]}\n", 1))
	co = h.waitFor("other", "refusal", func(co *v1alpha1.Cutover) bool { return co.Status.Phase == PhaseInvalid })
	if !strings.Contains(co.Status.Message, `unknown AnalysisTemplate "missing"`) {
		t.Fatalf("message %q", co.Status.Message)
	}
}

// Argo's args[].valueFrom on Kubernetes: a Secret's key and a field of the
// Cutover. A missing Secret holds the plan with the reason until it exists.
func TestArgumentValuesFromKubernetes(t *testing.T) {
	var seen atomic.Value
	checks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.String() + " " + r.Header.Get("Authorization"))
		fmt.Fprintf(w, `{"app": %q, "plan": %q}`, r.URL.Query().Get("app"), r.URL.Query().Get("plan"))
	}))
	defer checks.Close()
	h := newHarness(t)
	h.apply(virtualService)
	h.apply(`apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke, namespace: shop}
spec:
  args:
  - name: token
    valueFrom: {secretKeyRef: {name: checks, key: token}}
  - name: app
    valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
  - name: plan
  metrics:
  - name: smoke
    successCondition: result.app == "shop-web" && result.plan == "web"
    provider:
      web:
        url: "` + checks.URL + `/check?app={{args.app}}&plan={{args.plan}}"
        headers: [{key: Authorization, value: "Bearer {{args.token}}"}]
`)
	h.startController()
	doc := strings.Replace(fmt.Sprintf(plan, "web", istioRouting), "      - pause: {}\n", `      - analysis:
          templates: [{templateName: smoke}]
          args: [{name: plan, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
`, 1)
	h.apply(strings.Replace(doc, "metadata: {name: web, namespace: shop}", "metadata: {name: web, namespace: shop, labels: {app: shop-web}}", 1))
	co := h.waitFor("web", "the missing Secret", func(co *v1alpha1.Cutover) bool { return co.Status.Phase == PhaseInvalid })
	if !strings.Contains(co.Status.Message, "args token: Secret shop/checks") {
		t.Fatalf("message %q", co.Status.Message)
	}
	h.apply(`apiVersion: v1
kind: Secret
metadata: {name: checks, namespace: shop}
stringData: {token: s3cret}
`)
	co = h.waitFor("web", "completion", func(co *v1alpha1.Cutover) bool {
		return co.Status.Phase == "Completed" || co.Status.Phase == "Aborted"
	})
	if got, _ := seen.Load().(string); co.Status.Phase != "Completed" || !strings.Contains(got, "app=shop-web&plan=web Bearer s3cret") {
		t.Fatalf("phase %s (%s); the check saw %q", co.Status.Phase, co.Status.Message, got)
	}
}

// Argo's datadog keys on Kubernetes: the Secret a secretRef names, in the
// Cutover's namespace when namespaced; a Datadog stand-in answers as its
// API reference documents (Datadog cannot run here).
func TestDatadogKeysFromASecret(t *testing.T) {
	dd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" || r.Header.Get("DD-API-KEY") != "k1" || r.Header.Get("DD-APPLICATION-KEY") != "k2" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		fmt.Fprint(w, `{"series": [{"pointlist": [[1700000000000, 0.001]]}]}`)
	}))
	defer dd.Close()
	h := newHarness(t)
	h.apply(virtualService)
	h.apply(`apiVersion: v1
kind: Secret
metadata: {name: dd-keys, namespace: shop}
stringData: {api-key: k1, app-key: k2, address: "` + dd.URL + `"}
`)
	h.startController()
	doc := strings.Replace(fmt.Sprintf(plan, "web", istioRouting), "      - pause: {}\n", "      - analysis: {templates: [{templateName: errors}]}\n", 1)
	h.apply(strings.Replace(doc, "  trafficRouting:\n", `  analysisTemplates:
  - name: errors
    spec:
      metrics:
      - name: errors
        successCondition: result < 0.01
        provider:
          datadog: {query: "sum:errors{service:web}", secretRef: {name: dd-keys, namespaced: true}}
  trafficRouting:
`, 1))
	co := h.waitFor("web", "completion", func(co *v1alpha1.Cutover) bool {
		return co.Status.Phase == "Completed" || co.Status.Phase == "Aborted" || co.Status.Phase == PhaseInvalid
	})
	if co.Status.Phase != "Completed" {
		t.Fatalf("phase %s (%s)", co.Status.Phase, co.Status.Message)
	}
}
