package prometheus_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/analysis/prometheus"
	"github.com/cutover-dev/cutover/internal/testenv"
	"github.com/cutover-dev/cutover/server"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/state"
)

// A real Prometheus scrapes a real gateway; the provider's queries and the
// judge see what the gateway served.
func TestPrometheusProviderAgainstRealPrometheus(t *testing.T) {
	var n atomic.Int64
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "legacy") }))
	defer legacy.Close()
	canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%5 == 0 {
			w.WriteHeader(http.StatusInternalServerError) // 20 % errors
		}
	}))
	defer canary.Close()

	dir := t.TempDir()
	file := filepath.Join(dir, "cutover.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(`apiVersion: cutover.dev/v1alpha1
kind: Gateway
metadata: {name: p}
spec:
  listeners: [{address: "127.0.0.1:0"}]
  admin: {address: "127.0.0.1:0"}
  drainDelay: 0s
  backends:
  - {name: legacy, endpoints: [%s]}
  - {name: new, endpoints: [%s], passive: {consecutiveFailures: 0}}
  routes:
  - name: web
    backends: [{name: legacy, weight: 50}, {name: new, weight: 50}]
`, legacy.URL, canary.URL)), 0o600)
	stateDir := filepath.Join(dir, "state")
	store, err := state.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	token, _ := state.LoadOrCreateToken(stateDir)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, []string{file}, store, token, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-srv.Gateway.Started()

	prom := testenv.StartPrometheus(t, srv.Gateway.Addr("admin"), filepath.Join(stateDir, state.TokenFile))
	started := time.Now()
	url := "http://" + srv.Gateway.Addr("listener-0") + "/"
	for range 1000 {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	sides := analysis.Sides{Route: "web", Stable: "legacy", Canary: "new"}
	p := prometheus.Provider{}

	// A plain query with Argo's successCondition: wait until Prometheus has
	// scraped all 1,000 requests.
	total := &spec.Metric{
		Name:             "total",
		SuccessCondition: "result[0] == 1000",
		Provider: spec.Provider{Prometheus: &spec.PrometheusProvider{
			Address: prom.URL, Timeout: spec.Seconds(5 * time.Second),
			Query: `sum(cutover_requests_total{route="web"})`,
		}},
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, out, err := p.Measure(context.Background(), total, started, sides)
		res, _ := out.([]float64)
		if err == nil && len(res) == 1 && res[0] == 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus never saw 1000 requests: %v %v", res, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The judge compares per-side counts from two queries.
	judged := &spec.Metric{
		Name: "compare",
		Provider: spec.Provider{Prometheus: &spec.PrometheusProvider{
			Address: prom.URL, Timeout: spec.Seconds(5 * time.Second), SideLabel: "backend",
			Query:         `sum by (backend) (cutover_requests_total{route="web",code=~"5.."})`,
			RequestsQuery: `sum by (backend) (cutover_requests_total{route="web"})`,
			Judge:         &spec.Judge{MinSamples: 100, ErrorRate: &spec.ErrorRateJudge{MaxIncrease: 0.05, Alpha: 0.05, Beta: 0.2}},
		}},
	}
	meas, _, err := p.Measure(context.Background(), judged, started, sides)
	if err != nil {
		t.Fatal(err)
	}
	if meas.Phase != analysis.Failed || !strings.Contains(meas.Value, "canary 20.00% (n=500) vs stable 0.00% (n=500)") {
		t.Fatalf("judge: %s %s", meas.Phase, meas.Value)
	}

	// Argo's rangeQuery and headers, through a proxy in front of the real
	// Prometheus that records what it was sent: every sample of the range.
	promURL, _ := neturl.Parse(prom.URL)
	var org, path atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org.Store(r.Header.Get("X-Scope-OrgID"))
		path.Store(r.URL.Path)
		httputil.NewSingleHostReverseProxy(promURL).ServeHTTP(w, r)
	}))
	defer proxy.Close()
	ranged := &spec.Metric{
		Name: "ranged",
		Provider: spec.Provider{Prometheus: &spec.PrometheusProvider{
			Address: proxy.URL, Timeout: spec.Seconds(5 * time.Second),
			Query:      `sum(cutover_requests_total{route="web"})`,
			Headers:    []spec.Header{{Key: "X-Scope-OrgID", Value: "team-a"}},
			RangeQuery: &spec.RangeQuery{Start: "now() - duration('1m')", End: "now()", Step: "2s"},
		}},
	}
	_, out, err := p.Measure(context.Background(), ranged, started, sides)
	res, _ := out.([]float64)
	if err != nil || len(res) == 0 || res[len(res)-1] != 1000 {
		t.Fatalf("range query: %v %v, want the samples up to 1000", res, err)
	}
	if org.Load() != "team-a" || path.Load() != "/api/v1/query_range" {
		t.Fatalf("sent %v to %v; want the header to /api/v1/query_range", org.Load(), path.Load())
	}
}
