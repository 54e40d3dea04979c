package rollout_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/traffic"
	"github.com/cutover-dev/cutover/traffic/gatewayrouter"
)

// panicsOnce is the embedded gateway's router whose first weight change
// panics, as a bug in a router would.
type panicsOnce struct {
	traffic.Router
	armed, panicked atomic.Bool
}

func (p *panicsOnce) SetWeight(ctx context.Context, w int) error {
	if p.armed.Load() && p.panicked.CompareAndSwap(false, true) {
		panic("a bug in the router")
	}
	return p.Router.SetWeight(ctx, w)
}

// A panic while advancing a plan is recovered, logged and counted, and the
// manager goes on: the plan completes on the next ticks.
func TestManagerSurvivesAPanic(t *testing.T) {
	v := newEnv(t, planConfig(backend(t, "legacy", nil), backend(t, "new", nil), "      - setWeight: 30\n      - setWeight: 100\n"))
	reg := prometheus.NewRegistry()
	m := rollout.NewManager(rollout.BoltStore(v.store), analysis.ProviderSet{}, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	m.TickInterval = 10 * time.Millisecond
	cfg := v.srv.Gateway.Config()
	cfg.Rollouts[0].Metadata.Name = "web2" // its own state, beside the env's plan
	router := &panicsOnce{}
	err := m.Sync(context.Background(), cfg, func(p *rollout.Plan) traffic.Router {
		router.Router = gatewayrouter.New(v.srv.Gateway, p.Route, p.Stable, p.Canary, "rollout/"+p.Name)
		return router
	})
	if err != nil {
		t.Fatal(err)
	}
	router.armed.Store(true) // the first weight change of the plan's ticks panics
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	waitUntil(t, "the plan to complete after the panic", func() bool {
		return m.Get("web2").View().State.Phase == rollout.Completed
	})
	if !router.panicked.Load() {
		t.Fatal("the router never panicked")
	}
	if n := counterValue(t, reg, "cutover_rollout_panics_total"); n != 1 {
		t.Errorf("cutover_rollout_panics_total %v, want 1", n)
	}
	if v.gatewayWeight() != 100 {
		t.Errorf("gateway at %d%%", v.gatewayWeight())
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}
