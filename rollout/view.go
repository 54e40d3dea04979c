package rollout

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/state"
	"github.com/cutover-dev/cutover/traffic"
)

// View is a plan as `status` and `get rollout` show it.
type View struct {
	Name   string `json:"name"`
	Route  string `json:"route"`
	Stable string `json:"stable"`
	Canary string `json:"canary"`
	Router string `json:"router"`
	State  State  `json:"state"`
	// PauseLeft is the time left in a timed pause, now.
	PauseLeft    time.Duration `json:"pauseLeft"`
	HeaderRoutes []string      `json:"headerRoutes"`
	MirrorRoutes []string      `json:"mirrorRoutes"`
	Steps        []StepView    `json:"steps"`
}

// StepView is one step in the plan's picture.
type StepView struct {
	Index  int    `json:"index"`
	Text   string `json:"text"`
	Status string `json:"status"` // done, current or pending
}

// View returns the plan's picture.
func (e *Engine) View() View {
	ps := e.published.Load()
	return ViewOfPlan(ps.plan, ps.st, e.Now(), e.router.Type(), ps.plan.Route, ps.plan.Stable, ps.plan.Canary)
}

// ViewOfPlan draws a plan at a state, also for a plan whose engine runs
// elsewhere (the controller keeps the state in a Cutover's status).
func ViewOfPlan(p *Plan, st State, now time.Time, router, route, stable, canary string) View {
	v := View{
		Name: p.Name, Route: route, Stable: stable, Canary: canary,
		Router: router, State: st, PauseLeft: st.pauseLeft(now),
	}
	if !st.terminal() {
		for _, h := range p.headerRoutesAt(st.Step) {
			v.HeaderRoutes = append(v.HeaderRoutes, h.Name)
		}
		for _, m := range p.mirrorRoutesAt(st.Step) {
			v.MirrorRoutes = append(v.MirrorRoutes, m.Name)
		}
	}
	for i, s := range p.Steps {
		sv := StepView{Index: i, Text: DescribeStep(s), Status: "pending"}
		switch {
		case i < st.Step || st.Phase == Completed:
			sv.Status = "done"
		case i == st.Step:
			sv.Status = "current"
		}
		v.Steps = append(v.Steps, sv)
	}
	return v
}

// DescribeStep is a step in one line, in the plan's own words.
func DescribeStep(s spec.Step) string {
	switch {
	case s.SetWeight != nil:
		return fmt.Sprintf("setWeight: %d", *s.SetWeight)
	case s.Pause != nil && s.Pause.Duration == nil:
		return "pause: until promoted"
	case s.Pause != nil:
		return "pause: " + s.Pause.Duration.D().String()
	case s.SetHeaderRoute != nil:
		h := s.SetHeaderRoute
		if len(h.Match) == 0 {
			return "setHeaderRoute: " + h.Name + " (remove)"
		}
		var parts []string
		for _, m := range h.Match {
			if m.HeaderName != "" {
				parts = append(parts, m.HeaderName+describeMatch(m.HeaderValue))
			} else {
				parts = append(parts, "?"+m.QueryParamName+describeMatch(m.QueryParamValue))
			}
		}
		return "setHeaderRoute: " + h.Name + " (" + strings.Join(parts, ", ") + ")"
	case s.SetMirrorRoute != nil:
		m := s.SetMirrorRoute
		if len(m.Match) == 0 {
			return "setMirrorRoute: " + m.Name + " (remove)"
		}
		pct := 100
		if m.Percentage != nil {
			pct = *m.Percentage
		}
		return fmt.Sprintf("setMirrorRoute: %s (%d%% copied to the canary)", m.Name, pct)
	case s.Analysis != nil:
		var names []string
		for _, t := range s.Analysis.Templates {
			names = append(names, t.TemplateName)
		}
		for _, m := range s.Analysis.Metrics {
			names = append(names, m.Name)
		}
		return "analysis: " + strings.Join(names, ", ")
	}
	return "?"
}

func describeMatch(m *spec.StringMatch) string {
	switch {
	case m == nil:
		return ""
	case m.Exact != nil:
		return "=" + *m.Exact
	case m.Prefix != nil:
		return "^=" + *m.Prefix
	case m.Regex != nil:
		return "~" + *m.Regex
	}
	return ""
}

// Manager runs the plans of a config.
type Manager struct {
	store     *state.Store
	providers analysis.Providers
	log       *slog.Logger
	// TickInterval is how often plans advance. Default 250ms.
	TickInterval time.Duration
	verdicts     *prometheus.CounterVec
	panics       prometheus.Counter

	mu      sync.Mutex // guards engines
	engines map[string]*Engine
}

// NewManager returns a manager with no plans; Sync adds them. Its metric,
// cutover_analysis_verdict_total, goes to reg when reg is not nil.
func NewManager(store *state.Store, providers analysis.Providers, log *slog.Logger, reg prometheus.Registerer) *Manager {
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
		e, err := NewEngine(p, routerFor(p), m.providers, BoltStore(m.store), m.log)
		if err != nil {
			return err
		}
		e.verdicts = m.verdicts
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
	t := time.NewTicker(m.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		engines := make([]*Engine, 0, len(m.engines))
		for _, e := range m.engines {
			engines = append(engines, e)
		}
		m.mu.Unlock()
		for _, e := range engines {
			m.tick(ctx, e)
		}
	}
}

func (m *Manager) tick(ctx context.Context, e *Engine) {
	defer func() {
		if r := recover(); r != nil {
			m.panics.Inc()
			m.log.Error("advancing a plan panicked; the manager goes on", "rollout", e.name, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	e.Tick(ctx)
}
