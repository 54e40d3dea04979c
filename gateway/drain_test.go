package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/admin"
	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/gateway"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/state"
)

// Health checks go on through the drain after SIGTERM: an endpoint that
// fails while the gateway drains is seen to fail.
func TestHealthChecksRunThroughTheDrain(t *testing.T) {
	var sick atomic.Bool
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && sick.Load() {
			w.WriteHeader(500)
		}
	})
	dir := t.TempDir()
	file := filepath.Join(dir, "cutover.yaml")
	writeConfig(t, file, strings.Replace(config(fmt.Sprintf(`  backends:
  - name: app
    endpoints: [%s]
    healthCheck: {path: /healthz, interval: 50ms, timeout: 50ms, unhealthyThreshold: 1}
  routes:
  - name: web
    backends: [{name: app}]
`, app.URL)), "drainDelay: 0s", "drainDelay: 2s", 1))
	store, err := state.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := gateway.New(ctx, []string{file}, store, log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- gw.Run(ctx, admin.New(gw, rollout.NewManager(rollout.BoltStore(store), analysis.ProviderSet{}, log, nil), "token", log))
	}()
	<-gw.Started()
	healthy := func() bool { return gw.Status().Backends[0].Endpoints[0].Healthy }
	waitFor(t, "the first check", 2*time.Second, healthy)
	cancel() // SIGTERM: the drain begins
	time.Sleep(100 * time.Millisecond)
	sick.Store(true)
	waitFor(t, "the check to see the endpoint fail during the drain", time.Second, func() bool { return !healthy() })
	select {
	case err := <-done:
		t.Fatalf("the gateway stopped before its drain delay: %v", err)
	default:
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The gauges are overwritten in place when health changes, never reset: a
// scrape always sees every route's weight.
func TestGaugesNeverDisappear(t *testing.T) {
	var flap atomic.Int64
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && flap.Add(1)%2 == 0 {
			w.WriteHeader(500)
		}
	})
	spare := newBackend(t, "spare", nil)
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - name: app
    endpoints: [%s]
    healthCheck: {path: /healthz, interval: 10ms, timeout: 10ms, healthyThreshold: 1, unhealthyThreshold: 1}
  - {name: spare, endpoints: [%s]}
  routes:
  - name: web
    backends: [{name: app, weight: 50}, {name: spare, weight: 50}]
`, app.URL, spare.URL)))
	for i := range 300 {
		m := h.metricsText()
		for _, series := range []string{`cutover_route_weight{backend="app",route="web"}`, `cutover_route_weight{backend="spare",route="web"}`, `cutover_upstream_healthy{backend="app"`} {
			if !strings.Contains(m, series) {
				t.Fatalf("scrape %d lacks %s while health flaps", i, series)
			}
		}
	}
	if flap.Load() < 20 {
		t.Fatalf("health flapped only %d times", flap.Load())
	}
}

// A connection that never sends a byte does not hold the shutdown: once
// the listeners are closed it is closed after a second, where net/http
// alone would wait 5 s for it (more than the demo's shutdown timeout).
func TestSilentConnectionsDoNotHoldTheShutdown(t *testing.T) {
	app := newBackend(t, "app", nil)
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - {name: app, endpoints: [%s]}
  routes:
  - name: web
    backends: [{name: app}]
`, app.URL)))
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if code, _ := h.get("/"); code != 200 {
		t.Fatalf("GET: %d", code)
	}
	start := time.Now()
	h.stop()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("shutdown took %v behind a connection that sent nothing", took)
	}
}
