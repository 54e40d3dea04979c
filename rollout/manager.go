package rollout

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/internal/loop"
	"github.com/cutover-dev/cutover/notify"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/traffic"
)

// Manager runs the plans of a config.
type Manager struct {
	store     Store
	providers analysis.Providers
	log       *slog.Logger
	// TickInterval is how often plans advance. Default 250ms.
	TickInterval time.Duration
	// Notify, when set, is told of the plans' changes people watch for
	// (notify.Dispatcher.Send); it must not block. Set it before Sync.
	Notify   func(notify.Event)
	verdicts *prometheus.CounterVec
	panics   prometheus.Counter

	mu      sync.Mutex // guards engines
	engines map[string]*Engine
}

// NewManager returns a manager with no plans; Sync adds them. Its metric,
// cutover_analysis_verdict_total, goes to reg when reg is not nil.
func NewManager(store Store, providers analysis.Providers, log *slog.Logger, reg prometheus.Registerer) *Manager {
	m := &Manager{store: store, providers: providers, log: log, TickInterval: 250 * time.Millisecond, engines: map[string]*Engine{}}
	m.verdicts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cutover_analysis_verdict_total",
		Help: "Analysis measurements by plan, metric and verdict (Successful, Failed, Inconclusive, Pending, Error).",
	}, []string{"rollout", "metric", "verdict"})
	m.panics = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cutover_rollout_panics_total",
		Help: "Panics recovered while advancing a plan; the manager goes on with the next tick.",
	})
	if reg != nil {
		reg.MustRegister(m.verdicts, m.panics)
	}
	return m
}

// Sync makes the running plans those of cfg: new plans start (or resume
// from their stored state), changed ones keep their position, removed ones
// stop, leaving the traffic as it is.
func (m *Manager) Sync(ctx context.Context, cfg *spec.Config, routerFor func(*Plan) traffic.Router) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range cfg.Rollouts {
		p := NewPlan(cfg, r)
		seen[p.Name] = true
		if e, ok := m.engines[p.Name]; ok {
			e.SetPlan(p)
			continue
		}
		e, err := NewEngine(p, routerFor(p), m.providers, m.store, m.log)
		if err != nil {
			return err
		}
		e.verdicts = m.verdicts
		if m.Notify != nil {
			e.Notify(m.Notify)
		}
		if err := e.Reconcile(ctx); err != nil {
			e.mu.Lock()
			e.degrade(err)
			e.mu.Unlock()
		}
		m.engines[p.Name] = e
	}
	for name := range m.engines {
		if !seen[name] {
			delete(m.engines, name)
			m.log.Warn("rollout removed from the config; traffic stays as it is", "rollout", name)
		}
	}
	return nil
}

// Get returns the named plan's engine, or nil.
func (m *Manager) Get(name string) *Engine {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.engines[name]
}

// Views returns every plan's picture, by name.
func (m *Manager) Views() []View {
	m.mu.Lock()
	engines := make([]*Engine, 0, len(m.engines))
	for _, e := range m.engines {
		engines = append(engines, e)
	}
	m.mu.Unlock()
	out := make([]View, 0, len(engines))
	for _, e := range engines {
		out = append(out, e.View())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Run advances every plan until ctx ends. A panic while advancing one plan
// is logged and counted, and the others, and the next ticks, go on.
func (m *Manager) Run(ctx context.Context) {
	loop.Every(ctx, m.TickInterval, m.panicked("rollout-manager"), func() {
		m.mu.Lock()
		engines := make([]*Engine, 0, len(m.engines))
		for _, e := range m.engines {
			engines = append(engines, e)
		}
		m.mu.Unlock()
		for _, e := range engines {
			loop.Guard(m.panicked(e.name), func() { e.Tick(ctx) })
		}
	})
}

func (m *Manager) panicked(rollout string) loop.PanicFunc {
	return func(v any, stack []byte) {
		m.panics.Inc()
		m.log.Error("advancing a plan panicked; the manager goes on", "rollout", rollout, "panic", v, "stack", string(stack))
	}
}
