package controller

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/internal/testenv"
)

// meshExporter serves istio_requests_total as Istio's sidecars would, for
// canaries whose share of 5xx answers the test scripts: the counters grow
// at 100 requests per second from the exporter's start.
func meshExporter(t *testing.T, errorShare map[string]float64) string {
	t.Helper()
	start := time.Now()
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		total := time.Since(start).Seconds() * 100
		fmt.Fprintln(w, "# TYPE istio_requests_total counter")
		for svc, share := range errorShare {
			for code, n := range map[string]float64{"200": total * (1 - share), "503": total * share} {
				fmt.Fprintf(w, "istio_requests_total{destination_service_name=%q,destination_service_namespace=\"shop\",response_code=%q,reporter=\"destination\"} %.0f\n", svc, code, n)
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

const analysisPlan = `apiVersion: cutover.dev/v1alpha1
kind: Cutover
metadata: {name: %[1]s, namespace: shop}
spec:
  stable: {service: web-stable}
  canary: {service: %[1]s}
  analysisTemplates:
  - name: error-rate
    spec:
      args: [{name: service}]
      metrics:
      - name: error-rate
        interval: 1s
        count: 3
        successCondition: result[0] < 0.01
        failureCondition: result[0] > 0.1
        provider:
          prometheus:
            address: %[2]s
            query: >-
              sum(rate(istio_requests_total{destination_service_name="{{args.service}}",response_code=~"5.."}[3s]))
              / sum(rate(istio_requests_total{destination_service_name="{{args.service}}"}[3s]))
  strategy:
    canary:
      steps:
      - setWeight: 20
      - analysis:
          templates: [{templateName: error-rate}]
          args: [{name: service, value: %[1]s}]
      - setWeight: 100
  trafficRouting:
    istio:
      virtualService: {name: %[1]s, routes: [primary]}
`

// TestPrometheusAnalysisOfMeshMetrics runs three plans whose analysis
// reads istio_requests_total from a real Prometheus: a healthy canary
// completes, a failing one aborts, an undecided one pauses.
func TestPrometheusAnalysisOfMeshMetrics(t *testing.T) {
	h := newHarness(t)
	target := meshExporter(t, map[string]float64{"good": 0, "bad": 0.3, "unsure": 0.05})
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("unused"), 0o600); err != nil {
		t.Fatal(err)
	}
	prom := testenv.StartPrometheus(t, target, token)
	// Wait until Prometheus has enough samples for a 3s rate.
	time.Sleep(4 * time.Second)
	h.startController()
	for _, name := range []string{"good", "bad", "unsure"} {
		h.apply(strings.ReplaceAll(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: NAME, namespace: shop}
spec:
  hosts: [NAME.example.com]
  http:
  - name: primary
    route:
    - {destination: {host: web-stable}, weight: 100}
    - {destination: {host: NAME}, weight: 0}
`, "NAME", name))
		h.apply(fmt.Sprintf(analysisPlan, name, prom.URL))
	}

	good := h.waitFor("good", "completion", settled)
	if good.Status.Phase != "Completed" || good.Status.CanaryWeight != 100 {
		t.Errorf("healthy canary: %s at weight %d: %s", good.Status.Phase, good.Status.CanaryWeight, good.Status.Message)
	}
	bad := h.waitFor("bad", "a verdict", settled)
	if bad.Status.Phase != "Aborted" || bad.Status.CanaryWeight != 0 {
		t.Errorf("failing canary: %s at weight %d: %s", bad.Status.Phase, bad.Status.CanaryWeight, bad.Status.Message)
	}
	if len(bad.Status.Verdicts) == 0 || bad.Status.Verdicts[0].Phase != "Failed" || !strings.Contains(bad.Status.Verdicts[0].Message, "error-rate") {
		t.Errorf("failing canary's verdicts: %+v", bad.Status.Verdicts)
	}
	if c := meta.FindStatusCondition(bad.Status.Conditions, v1alpha1.ConditionHealthy); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("failing canary's Healthy condition: %+v", c)
	}
	unsure := h.waitFor("unsure", "a verdict", settled)
	if unsure.Status.Phase != "Paused" || unsure.Status.CanaryWeight != 20 {
		t.Errorf("undecided canary: %s at weight %d: %s", unsure.Status.Phase, unsure.Status.CanaryWeight, unsure.Status.Message)
	}
	if c := meta.FindStatusCondition(unsure.Status.Conditions, v1alpha1.ConditionPaused); c == nil || c.Reason != "PauseInconclusive" {
		t.Errorf("undecided canary's Paused condition: %+v", c)
	}
}

// settled: the plan stopped moving on its own.
func settled(co *v1alpha1.Cutover) bool {
	switch co.Status.Phase {
	case "Completed", "Aborted", "Paused", "Degraded", PhaseInvalid:
		return true
	}
	return false
}
