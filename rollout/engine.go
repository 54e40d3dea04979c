package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/notify"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/state"
	"github.com/cutover-dev/cutover/traffic"
)

// Plan is a validated Rollout with what it needs from the rest of the config.
type Plan struct {
	Name, Route, Stable, Canary string
	Steps                       []spec.Step
	Background                  *spec.BackgroundAnalysis
	// InitialWeight is the canary's weight in the config, before any step.
	InitialWeight int
	Templates     map[string]*spec.AnalysisTemplate
	// Remotes are other gateways the plan moves in step.
	Remotes []spec.RemoteGateway
	// ScaleDownDelay is how long after completing the stable side must
	// stay ready to take the traffic back (blueGreen's
	// scaleDownDelaySeconds); 0 when the plan does not say.
	ScaleDownDelay time.Duration
}

// NewPlan takes a Rollout from a validated config.
func NewPlan(cfg *spec.Config, r *spec.Rollout) *Plan {
	var route spec.Route
	for _, rt := range cfg.Gateway.Spec.Routes {
		if rt.Name == r.Spec.Route {
			route = rt
		}
	}
	return NewPlanOf(r, route, cfg.Templates)
}

// NewPlanOf takes a Rollout that spec.CheckPlan passed against route.
func NewPlanOf(r *spec.Rollout, route spec.Route, templates []*spec.AnalysisTemplate) *Plan {
	c := r.Spec.Strategy.Canary
	p := &Plan{
		Name: r.Metadata.Name, Route: r.Spec.Route,
		Stable: c.StableService, Canary: c.CanaryService,
		Steps: c.Steps, Background: c.Analysis,
		Templates: map[string]*spec.AnalysisTemplate{},
		Remotes:   r.Spec.RemoteGateways,
	}
	if bg := r.Spec.Strategy.BlueGreen; bg != nil {
		p.ScaleDownDelay = bg.ScaleDownDelay()
	}
	for _, b := range route.Backends {
		if b.Name == p.Canary {
			p.InitialWeight = *b.Weight
		}
	}
	for _, at := range templates {
		p.Templates[at.Metadata.Name] = at
	}
	return p
}

// weightAt is the canary weight once the steps before step have run.
func (p *Plan) weightAt(step int) int {
	w := p.InitialWeight
	for _, s := range p.Steps[:min(step, len(p.Steps))] {
		if s.SetWeight != nil {
			w = *s.SetWeight
		}
	}
	return w
}

// headerRoutesAt are the header routes in place once the steps before step
// have run, in the order they were set.
func (p *Plan) headerRoutesAt(step int) []*spec.SetHeaderRoute {
	var out []*spec.SetHeaderRoute
	for _, s := range p.Steps[:min(step, len(p.Steps))] {
		if h := s.SetHeaderRoute; h != nil {
			out = slices.DeleteFunc(out, func(x *spec.SetHeaderRoute) bool { return x.Name == h.Name })
			if len(h.Match) > 0 {
				out = append(out, h)
			}
		}
	}
	return out
}

// mirrorRoutesAt are the mirror routes in place once the steps before step
// have run.
func (p *Plan) mirrorRoutesAt(step int) []*spec.SetMirrorRoute {
	var out []*spec.SetMirrorRoute
	for _, s := range p.Steps[:min(step, len(p.Steps))] {
		if m := s.SetMirrorRoute; m != nil {
			out = slices.DeleteFunc(out, func(x *spec.SetMirrorRoute) bool { return x.Name == m.Name })
			if len(m.Match) > 0 {
				out = append(out, m)
			}
		}
	}
	return out
}

// metrics resolves an analysis block to metrics: templates' metrics with
// their arguments filled in, then inline ones.
func (p *Plan) metrics(a *spec.StepAnalysis) []spec.Metric {
	args := map[string]string{}
	var out []spec.Metric
	var opts []spec.RunOptions
	for _, ref := range a.Templates {
		r, _ := spec.Resolve(ref.TemplateName, p.Templates) // validated with the config
		for _, arg := range r.Args {
			if arg.Value != nil {
				args[arg.Name] = *arg.Value
			}
		}
		out = append(out, r.Metrics...)
		opts = append(opts, r.Options...)
	}
	for _, arg := range a.Args {
		if arg.Value != nil {
			args[arg.Name] = *arg.Value
		}
	}
	args["route"], args["stable"], args["canary"] = p.Route, p.Stable, p.Canary
	out = append(out, a.Metrics...)
	out = analysis.Substitute(out, args)
	// The plan's own options after the templates', as Argo merges them.
	for _, o := range append(opts, a.RunOptions) {
		o.Apply(out)
	}
	return out
}

// Engine runs one plan. Its methods are safe for concurrent use; commands
// and ticks take turns.
type Engine struct {
	name      string // the plan's, which a new config keeps
	router    traffic.Router
	providers analysis.Providers
	store     Store
	log       *slog.Logger
	// Now is the clock; tests may set it before Start.
	Now func() time.Time

	mu sync.Mutex // guards plan and st
	// opMu guards cancelOp, which cancels the tick or command holding mu,
	// and aborting, the aborts waiting for mu: an abort never waits behind
	// a hanging analysis query or router write.
	opMu     sync.Mutex
	cancelOp context.CancelFunc
	aborting int
	plan     *Plan
	st       State
	// retryAt is when a Degraded plan tries its router again.
	retryAt time.Time
	// ticked is false until the first Tick after loading: a timed pause
	// counts down only while the gateway runs.
	ticked bool
	// verdicts counts measurements by verdict; nil in tests that need none.
	verdicts *prometheus.CounterVec
	// published is the plan and a copy of its state as last stored, for
	// View: status never waits behind a tick's query or router write.
	published atomic.Pointer[publishedState]
	// notify, when set, is told of the changes people watch for; it must
	// not block. promoting is set while Promote runs, so that the move it
	// makes is told as a promotion.
	notify    func(notify.Event)
	promoting bool
	// fresh is set when NewEngine started the plan rather than loading it.
	fresh bool
}

type publishedState struct {
	plan *Plan
	st   State
}

// publish copies the state for View. Called with e.mu held.
func (e *Engine) publish() {
	var st State
	data, _ := json.Marshal(e.st) // a deep copy: a tick goes on changing the analysis runs
	json.Unmarshal(data, &st)
	e.published.Store(&publishedState{plan: e.plan, st: st})
}

func (e *Engine) observe(metric string, m analysis.Measurement) {
	if e.verdicts != nil {
		e.verdicts.WithLabelValues(e.plan.Name, metric, string(m.Phase)).Inc()
	}
}

// NewEngine loads the plan's state from store, or starts it at step 0.
func NewEngine(plan *Plan, router traffic.Router, providers analysis.Providers, store Store, log *slog.Logger) (*Engine, error) {
	e := &Engine{name: plan.Name, plan: plan, router: router, providers: providers, store: store, log: log.With("rollout", plan.Name), Now: time.Now}
	found, err := store.Load(plan.Name, &e.st)
	if err != nil {
		return nil, fmt.Errorf("rollout %s: reading state: %w", plan.Name, err)
	}
	if !found {
		now := e.Now()
		e.st = State{Name: plan.Name, Phase: Progressing, Weight: plan.InitialWeight, StepStarted: now, History: []StepTime{{0, now}}}
		if err := e.persist("system", "started", fmt.Sprintf("plan with %d steps", len(plan.Steps)), State{}); err != nil {
			return nil, err
		}
		e.fresh = true
	}
	e.attachRuns()
	e.publish()
	return e, nil
}

// Notify has fn told of the changes people watch for from now on, and of
// the plan's start when NewEngine started it. fn must not block.
func (e *Engine) Notify(fn func(notify.Event)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.notify = fn
	if e.fresh {
		e.fresh = false
		e.tell(spec.EventStepStarted, string(e.st.Phase), "system", fmt.Sprintf("plan with %d steps", len(e.plan.Steps)))
	}
}

// SetPlan replaces the plan after a config reload; the position is kept.
func (e *Engine) SetPlan(p *Plan) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.plan = p
	if e.st.Step > len(p.Steps) {
		e.st.Step = len(p.Steps)
	}
	e.attachRuns()
	e.publish()
}

// attachRuns gives runs read back from the store their metric specs.
func (e *Engine) attachRuns() {
	if r := e.st.Analysis; r != nil && e.st.Step < len(e.plan.Steps) && e.plan.Steps[e.st.Step].Analysis != nil {
		r.Attach(e.plan.metrics(e.plan.Steps[e.st.Step].Analysis))
	} else {
		e.st.Analysis = nil
	}
	if r := e.st.Background; r != nil && e.plan.Background != nil {
		r.Attach(e.plan.metrics(&e.plan.Background.StepAnalysis))
	} else {
		e.st.Background = nil
	}
}

// persist writes the state and its audit event in one synced transaction.
// Called with e.mu held, before the state's action is carried out.
func (e *Engine) persist(actor, action, reason string, before State) error {
	e.st.Updated = e.Now()
	ev := state.Event{Actor: actor, Action: "rollout." + action, Target: e.plan.Name, Reason: reason, After: mustJSON(e.st.summary())}
	if before.Phase != "" {
		ev.Before = mustJSON(before.summary())
	}
	if err := e.store.Transition(e.plan.Name, &e.st, ev); err != nil {
		return fmt.Errorf("rollout %s: persisting state: %w", e.plan.Name, err)
	}
	e.publish()
	e.log.Info("rollout "+action, "phase", e.st.Phase, "step", e.st.Step, "weight", e.st.Weight, "reason", reason, "actor", actor)
	for _, kind := range e.noticeKinds(action, before) {
		e.tell(kind, string(e.st.Phase), actor, reason)
	}
	return nil
}

// noticeKinds are the notification events a stored change amounts to.
func (e *Engine) noticeKinds(action string, before State) []string {
	var kinds []string
	switch {
	case action == "aborted":
		kinds = []string{spec.EventAborted}
	case action == "completed":
		kinds = []string{spec.EventCompleted}
	case action == "degraded":
		if before.Phase != Degraded { // not again for every retry
			kinds = []string{spec.EventDegraded}
		}
	case action == "paused":
		kinds = []string{spec.EventPaused}
	case e.st.Step != before.Step || before.Phase == "" || action == "retried":
		kinds = []string{spec.EventStepStarted}
	}
	if e.promoting {
		switch {
		case len(kinds) == 1 && kinds[0] == spec.EventStepStarted:
			kinds = []string{spec.EventPromoted}
		case len(kinds) == 1 && kinds[0] == spec.EventCompleted:
			kinds = []string{spec.EventPromoted, spec.EventCompleted}
		}
	}
	return kinds
}

// tell sends a notification event about the plan as it is now.
func (e *Engine) tell(kind, phase, actor, reason string) {
	if e.notify == nil {
		return
	}
	e.notify(notify.Event{
		Kind: kind, Rollout: e.plan.Name, Route: e.plan.Route, Stable: e.plan.Stable, Canary: e.plan.Canary,
		Phase: phase, Step: e.st.Step, Steps: len(e.plan.Steps), Weight: e.st.Weight,
		Actor: actor, Reason: reason, Time: e.Now(),
	})
}

// tellVerdict sends an analysis run's verdict, before the plan acts on it.
func (e *Engine) tellVerdict(r *analysis.Run) {
	why := runSummary(r)
	if r.Phase != analysis.Successful {
		why = runReason(r)
	}
	e.tell(spec.EventAnalysisVerdict, string(r.Phase), "system", r.Name+": "+why)
}

// transition changes the state with change and persists it with its audit
// event. When the store fails, the state is put back as it was and the
// error returned: nothing changed, and the router has not been touched.
// Called with e.mu held.
func (e *Engine) transition(actor, action, reason string, change func(st *State)) error {
	before := e.st
	change(&e.st)
	if err := e.persist(actor, action, reason, before); err != nil {
		e.st = before
		e.publish()
		e.log.Error("the plan's state could not be stored; nothing changed", "action", action, "err", err)
		return err
	}
	return nil
}

// checkpoint writes progress that is not a transition.
func (e *Engine) checkpoint() {
	e.st.Updated = e.Now()
	if err := e.store.Checkpoint(e.plan.Name, &e.st); err != nil {
		e.log.Error("checkpoint failed", "err", err)
	}
	e.publish()
}

func mustJSON(v any) json.RawMessage {
	data, _ := json.Marshal(v)
	return data
}

// Reconcile makes the router match the persisted state, as after a restart:
// the weight, and the header and mirror routes the steps so far have set.
func (e *Engine) Reconcile(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.enforce(ctx)
}

// enforce makes the router carry the traffic the plan's position implies,
// and verifies it: whatever brought the plan there (a step, promote,
// rollback, retry, a restart), the traffic follows from the position alone.
func (e *Engine) enforce(ctx context.Context) error {
	e.st.Weight = e.wantWeight()
	if err := e.syncManagedRoutes(ctx); err != nil {
		return err
	}
	return e.setWeight(ctx, e.st.Weight)
}

// wantWeight is the canary weight the position implies: the last setWeight
// before the current step, as in Argo Rollouts; all or nothing once the plan
// is over.
func (e *Engine) wantWeight() int {
	phase := e.st.Phase
	if phase == Degraded {
		phase = e.st.Resume
	}
	switch phase {
	case Completed:
		return 100
	case Aborted:
		return 0
	}
	return e.plan.weightAt(e.st.Step)
}

// syncManagedRoutes puts in place the header and mirror routes of the
// current step, then removes every other managed route. Routes that stay
// are set again, not removed and re-added, so that a restart, a rollback or
// an edited spec never sends a preview request to stable in between.
func (e *Engine) syncManagedRoutes(ctx context.Context) error {
	var keep []string
	if e.st.Phase != Completed && e.st.Phase != Aborted && !(e.st.Phase == Degraded && e.st.Resume == Aborted) {
		for _, h := range e.plan.headerRoutesAt(e.st.Step) {
			if err := e.router.SetHeaderRoute(ctx, h); err != nil {
				return err
			}
			keep = append(keep, h.Name)
		}
		for _, m := range e.plan.mirrorRoutesAt(e.st.Step) {
			if err := e.router.SetMirrorRoute(ctx, m); err != nil {
				return err
			}
			keep = append(keep, m.Name)
		}
	}
	return e.router.RemoveManagedRoutes(ctx, keep...)
}

func (e *Engine) setWeight(ctx context.Context, w int) error {
	if err := e.router.SetWeight(ctx, w); err != nil {
		return err
	}
	ok, err := e.router.VerifyWeight(ctx, w)
	if err != nil {
		return err
	}
	if ok != nil && !*ok {
		return fmt.Errorf("weight %d did not take effect", w)
	}
	return nil
}

// degrade records a router failure; the next tick after a pause retries.
func (e *Engine) degrade(err error) {
	before := e.st
	if e.st.Phase != Degraded {
		e.st.Resume = e.st.Phase
		e.st.ResumeKind = e.st.PauseKind
	}
	e.st.Phase = Degraded
	e.st.Reason = err.Error()
	e.retryAt = e.Now().Add(2 * time.Second)
	if perr := e.persist("system", "degraded", err.Error(), before); perr != nil {
		e.log.Error("persist", "err", perr)
		e.publish()
	}
}

// begin takes e.mu for an operation that an abort may cancel, and returns
// its context; ok is false when an abort is waiting, and nothing is held.
func (e *Engine) begin(ctx context.Context) (opCtx context.Context, end func(), ok bool) {
	opCtx, cancel := context.WithCancel(ctx)
	e.opMu.Lock()
	if e.aborting > 0 {
		e.opMu.Unlock()
		cancel()
		return nil, nil, false
	}
	e.opMu.Unlock()
	e.mu.Lock()
	e.opMu.Lock()
	if e.aborting > 0 {
		e.opMu.Unlock()
		e.mu.Unlock()
		cancel()
		return nil, nil, false
	}
	e.cancelOp = cancel
	e.opMu.Unlock()
	return opCtx, func() {
		e.opMu.Lock()
		e.cancelOp = nil
		e.opMu.Unlock()
		cancel()
		e.mu.Unlock()
	}, true
}

// interrupt cancels the operation holding e.mu and keeps new ones from
// starting, then takes e.mu; the returned func gives it back.
func (e *Engine) interrupt() func() {
	e.opMu.Lock()
	e.aborting++
	if e.cancelOp != nil {
		e.cancelOp()
	}
	e.opMu.Unlock()
	e.mu.Lock()
	return func() {
		e.opMu.Lock()
		e.aborting--
		e.opMu.Unlock()
		e.mu.Unlock()
	}
}

// Tick advances the plan as far as it can go at now.
func (e *Engine) Tick(ctx context.Context) {
	ctx, end, ok := e.begin(ctx)
	if !ok {
		return
	}
	defer end()
	defer e.publish()
	if ctx.Err() != nil {
		return
	}
	now := e.Now()
	if !e.ticked {
		e.ticked = true
		if e.st.PauseKind == PauseTimed || e.st.ResumeKind == PauseTimed {
			e.st.PauseCheckpoint = now
		}
	}
	e.tickBackground(ctx, now)
	for range len(e.plan.Steps) + 2 {
		if ctx.Err() != nil || !e.step(ctx, now) {
			return
		}
	}
}

func (e *Engine) terminal() bool { return e.st.terminal() }

func (e *Engine) tickBackground(ctx context.Context, now time.Time) {
	bg := e.plan.Background
	if bg == nil || e.terminal() || e.st.Step < bg.StartingStep || e.st.Phase == Paused && e.st.PauseKind == PauseInconclusive {
		return
	}
	if e.st.Background == nil {
		e.st.Background = analysis.NewRun("background", e.plan.metrics(&bg.StepAnalysis), now, true)
		e.checkpoint()
	}
	run := e.st.Background
	if !run.Tick(ctx, now, e.providers, e.sides(), e.observe) || ctx.Err() != nil {
		return
	}
	if run.Phase == analysis.Failed || run.Phase == analysis.Inconclusive {
		e.tellVerdict(run)
	}
	switch run.Phase {
	case analysis.Failed:
		e.abort(ctx, "system", "background analysis failed: "+runReason(run))
	case analysis.Inconclusive:
		e.pauseInconclusive("background analysis inconclusive: " + runReason(run))
	default:
		e.checkpoint()
	}
}

func (e *Engine) sides() analysis.Sides {
	return analysis.Sides{Route: e.plan.Route, Stable: e.plan.Stable, Canary: e.plan.Canary}
}

// runReason is the message of the metric that settled a run.
func runReason(r *analysis.Run) string {
	for _, m := range r.Metrics {
		if m.Phase == analysis.Failed || m.Phase == analysis.Error || m.Phase == analysis.Inconclusive {
			msg := m.Name + " " + string(m.Phase)
			if n := len(m.Measurements); n > 0 {
				last := m.Measurements[n-1]
				if last.Value != "" {
					msg += " (" + last.Value + ")"
				}
				if last.Message != "" {
					msg += ": " + last.Message
				}
			}
			return msg
		}
	}
	return string(r.Phase)
}

// step carries out the current step if it can, and reports whether the
// plan moved on so that the next step may run at once.
func (e *Engine) step(ctx context.Context, now time.Time) bool {
	st := &e.st
	switch st.Phase {
	case Completed, Aborted:
		return false
	case Degraded:
		if now.Before(e.retryAt) {
			return false
		}
		if err := e.enforce(ctx); err != nil {
			e.degrade(err)
			return false
		}
		return e.transition("system", "recovered", "the traffic router answers again", func(st *State) {
			st.Phase, st.PauseKind, st.Reason = st.Resume, st.ResumeKind, ""
			st.Resume, st.ResumeKind = "", ""
			if st.Phase == Paused && st.PauseKind == PauseTimed {
				st.PauseCheckpoint = now
			}
		}) == nil
	case Paused:
		if st.PauseKind != PauseTimed {
			return false
		}
		if st.pauseLeft(now) > 0 {
			if now.Sub(st.PauseCheckpoint) >= time.Second {
				st.PauseLeft, st.PauseCheckpoint = st.pauseLeft(now), now
				e.checkpoint()
			}
			return false
		}
		return e.advance(ctx, now, "system", "pause ended") == nil
	case Analyzing:
		run := st.Analysis
		if !run.Tick(ctx, now, e.providers, e.sides(), e.observe) || ctx.Err() != nil {
			return false
		}
		if run.Phase == analysis.Successful || run.Phase == analysis.Failed || run.Phase == analysis.Inconclusive {
			e.tellVerdict(run)
		}
		switch run.Phase {
		case analysis.Successful:
			return e.advance(ctx, now, "system", "analysis passed: "+runSummary(run)) == nil
		case analysis.Failed:
			e.abort(ctx, "system", "analysis failed: "+runReason(run))
		case analysis.Inconclusive:
			e.pauseInconclusive("analysis inconclusive: " + runReason(run))
		default:
			e.checkpoint()
		}
		return false
	}
	// Progressing: carry out step st.Step.
	if st.Step >= len(e.plan.Steps) {
		e.complete(ctx, "system", "all steps done")
		return false
	}
	s := e.plan.Steps[st.Step]
	switch {
	case s.SetWeight != nil, s.SetHeaderRoute != nil, s.SetMirrorRoute != nil:
		// The position moves past the step first, so that the traffic it
		// sets is part of the position a restart comes back to.
		next := func(st *State) { e.moveTo(st.Step+1, now) }
		if e.goTo(ctx, "system", stepAction(s), fmt.Sprintf("step %d: %s", st.Step, describeStep(s)), next) != nil {
			return false
		}
		return st.Phase == Progressing
	case s.Pause != nil:
		reason := fmt.Sprintf("step %d: waiting for promote", st.Step)
		if s.Pause.Duration != nil {
			reason = fmt.Sprintf("step %d: pause %s", st.Step, s.Pause.Duration.D())
		}
		e.transition("system", "paused", reason, func(st *State) {
			st.Phase, st.Reason, st.PauseKind = Paused, reason, PauseStep
			if s.Pause.Duration != nil {
				st.PauseKind, st.PauseLeft, st.PauseCheckpoint = PauseTimed, s.Pause.Duration.D(), now
			}
		})
		return false
	case s.Analysis != nil:
		reason := fmt.Sprintf("step %d: analysis", st.Step)
		err := e.transition("system", "analyzing", reason, func(st *State) {
			st.Phase, st.Reason = Analyzing, reason
			st.Analysis = analysis.NewRun(fmt.Sprintf("step-%d", st.Step), e.plan.metrics(s.Analysis), now, false)
		})
		return err == nil
	case s.PodsOnly:
		return e.advance(ctx, now, "system", fmt.Sprintf("step %d: passed over (it sizes pods only)", st.Step)) == nil
	}
	return false
}

func stepAction(s spec.Step) string {
	switch {
	case s.SetWeight != nil:
		return "setWeight"
	case s.SetHeaderRoute != nil:
		return "setHeaderRoute"
	}
	return "setMirrorRoute"
}

func describeStep(s spec.Step) string {
	switch {
	case s.SetWeight != nil:
		return fmt.Sprintf("setWeight %d", *s.SetWeight)
	case s.SetHeaderRoute != nil:
		return "setHeaderRoute " + s.SetHeaderRoute.Name
	}
	return "setMirrorRoute " + s.SetMirrorRoute.Name
}

func runSummary(r *analysis.Run) string {
	var parts []string
	for _, m := range r.Metrics {
		s := m.Name + " " + string(m.Phase)
		if n := len(m.Measurements); n > 0 && m.Measurements[n-1].Value != "" {
			s += " (" + m.Measurements[n-1].Value + ")"
		}
		parts = append(parts, s)
	}
	return fmt.Sprint(parts)
}

// advance moves to the next step with an audit event.
func (e *Engine) advance(ctx context.Context, now time.Time, actor, reason string) error {
	return e.goTo(ctx, actor, "step", reason, func(st *State) { e.moveTo(st.Step+1, now) })
}

// goTo moves the plan with change, stores it, and then makes the router
// carry the traffic the new position implies. A store error changes nothing
// and is returned; a router error leaves the plan Degraded, to be tried
// again.
func (e *Engine) goTo(ctx context.Context, actor, action, reason string, change func(st *State)) error {
	err := e.transition(actor, action, reason, func(st *State) {
		change(st)
		st.Weight = e.plan.weightAt(st.Step)
	})
	if err != nil {
		return err
	}
	if err := e.enforce(ctx); err != nil {
		e.degrade(err)
	}
	return nil
}

func (e *Engine) moveTo(step int, now time.Time) {
	st := &e.st
	st.Step, st.Phase, st.Reason = step, Progressing, ""
	st.PauseKind, st.PauseLeft, st.PauseCheckpoint = "", 0, time.Time{}
	st.Resume, st.ResumeKind = "", ""
	st.Analysis = nil
	st.StepStarted = now
	st.History = append(st.History, StepTime{step, now})
}

func (e *Engine) pauseInconclusive(reason string) {
	e.transition("system", "paused", reason+"; resume runs the analysis again, promote skips it, abort rolls back", func(st *State) {
		st.Phase, st.PauseKind, st.Reason = Paused, PauseInconclusive, reason
	})
}

func (e *Engine) complete(ctx context.Context, actor, reason string) error {
	err := e.transition(actor, "completed", reason, func(st *State) {
		st.Phase, st.Weight, st.Reason = Completed, 100, reason
		st.Step = len(e.plan.Steps)
		st.PauseKind, st.Analysis = "", nil
		st.Resume, st.ResumeKind = "", ""
	})
	if err != nil {
		return err
	}
	if err := e.enforce(ctx); err != nil {
		e.degrade(err)
	}
	return nil
}

// abort sends all traffic to stable whatever else fails: when the state
// cannot be stored, the traffic moves anyway and the store's error is
// returned, loudly.
func (e *Engine) abort(ctx context.Context, actor, reason string) error {
	before := e.st
	e.st.Phase, e.st.Weight, e.st.Reason = Aborted, 0, reason
	e.st.PauseKind, e.st.Resume, e.st.ResumeKind = "", "", ""
	perr := e.persist(actor, "aborted", reason, before)
	if err := e.enforce(ctx); err != nil {
		e.degrade(err)
	}
	if perr != nil {
		e.publish()
		e.log.Error("ABORTED, traffic is on stable, but the state could not be stored: a restart would resume the plan where it was", "err", perr)
		return fmt.Errorf("traffic is back on stable, but the aborted state could not be stored (a restart would resume the plan): %w", perr)
	}
	return nil
}

// ErrUnhealthyCanary and ErrFailingAnalysis are why promote --full refuses.
var (
	ErrUnhealthyCanary = errors.New("canary is not healthy")
	ErrFailingAnalysis = errors.New("analysis is failing")
)

// Promote skips the current step, or with full goes straight to 100 %. Full
// promotion is refused while the canary has unhealthy endpoints or an
// analysis is failing, unless force is set.
func (e *Engine) Promote(ctx context.Context, full, force bool, actor, reason string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.promoting = true
	defer func() { e.promoting = false }()
	st := &e.st
	cmd := "promote"
	if full {
		cmd = "promote --full"
	}
	switch st.Phase {
	case Completed:
		return &CommandError{cmd, st.Phase, "the plan is already complete"}
	case Aborted:
		return &CommandError{cmd, st.Phase, "the plan was aborted; retry starts it again"}
	}
	if full {
		if !force {
			if h, ok := e.router.(traffic.Health); ok {
				if err := h.CanaryHealthy(ctx); err != nil {
					return &CommandError{cmd, st.Phase, fmt.Sprintf("%v: %v (use --force to promote anyway)", ErrUnhealthyCanary, err)}
				}
			}
			for _, r := range []*analysis.Run{st.Analysis, st.Background} {
				if why := failing(r); why != "" {
					return &CommandError{cmd, st.Phase, fmt.Sprintf("%v: %s (use --force to promote anyway)", ErrFailingAnalysis, why)}
				}
			}
		}
		return e.complete(ctx, actor, orDefault(reason, "promoted fully"))
	}
	if st.Step >= len(e.plan.Steps) {
		return e.complete(ctx, actor, orDefault(reason, "promoted"))
	}
	// Skipping a step never skips the traffic it implies: the next position
	// carries every setWeight and route up to it.
	return e.advance(ctx, e.Now(), actor, orDefault(reason, fmt.Sprintf("promoted past step %d", st.Step)))
}

// failing says why a run counts as failing, or "".
func failing(r *analysis.Run) string {
	if r == nil {
		return ""
	}
	for _, m := range r.Metrics {
		if m.Phase == analysis.Failed || m.Phase == analysis.Error || m.Phase == analysis.Inconclusive {
			return runReason(r)
		}
		if n := len(m.Measurements); n > 0 && m.Measurements[n-1].Phase == analysis.Failed {
			return m.Name + " failed its last measurement"
		}
	}
	return ""
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Abort sends all traffic back to stable at once and removes the plan's
// managed routes.
func (e *Engine) Abort(ctx context.Context, actor, reason string) error {
	defer e.interrupt()()
	switch e.st.Phase {
	case Completed:
		return &CommandError{"abort", e.st.Phase, "the plan is complete; rollback --to-step N moves traffic back"}
	case Aborted:
		return &CommandError{"abort", e.st.Phase, "the plan is already aborted"}
	}
	return e.abort(ctx, actor, orDefault(reason, "aborted"))
}

// Retry starts an aborted plan again from step 0.
func (e *Engine) Retry(ctx context.Context, actor, reason string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st.Phase != Aborted {
		return &CommandError{"retry", e.st.Phase, "only an aborted plan can be retried"}
	}
	now := e.Now()
	return e.goTo(ctx, actor, "retried", orDefault(reason, "retry from step 0"), func(st *State) {
		e.moveTo(0, now)
		st.History = []StepTime{{0, now}}
		st.Background = nil
	})
}

// Pause holds the plan where it is; Resume continues it. A timed pause
// keeps the time it had left.
func (e *Engine) Pause(ctx context.Context, actor, reason string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := &e.st
	switch {
	case st.Phase == Completed || st.Phase == Aborted:
		return &CommandError{"pause", st.Phase, "the plan is over"}
	case st.Phase == Paused && st.PauseKind == PauseManual:
		return &CommandError{"pause", st.Phase, "already paused"}
	case st.Phase == Paused && st.PauseKind != PauseTimed:
		return &CommandError{"pause", st.Phase, "already paused: " + st.Reason}
	case st.Phase == Degraded:
		return &CommandError{"pause", st.Phase, "the traffic router is failing: " + st.Reason}
	}
	now := e.Now()
	why := orDefault(reason, "paused by "+actor)
	return e.transition(actor, "paused", why, func(st *State) {
		if st.PauseKind == PauseTimed {
			st.PauseLeft, st.PauseCheckpoint = st.pauseLeft(now), now
		}
		st.Resume, st.ResumeKind = st.Phase, st.PauseKind
		st.Phase, st.PauseKind, st.Reason = Paused, PauseManual, why
	})
}

// Resume continues a plan paused by the pause command, or runs an
// inconclusive analysis again.
func (e *Engine) Resume(ctx context.Context, actor, reason string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := &e.st
	if st.Phase != Paused || (st.PauseKind != PauseManual && st.PauseKind != PauseInconclusive) {
		msg := "only a plan paused by the pause command or by an inconclusive analysis can be resumed"
		if st.Phase == Paused && st.PauseKind == PauseStep {
			msg = "the plan waits for promote at this step"
		}
		return &CommandError{"resume", st.Phase, msg}
	}
	now := e.Now()
	return e.transition(actor, "resumed", orDefault(reason, "resumed"), func(st *State) {
		resume(st, now)
	})
}

func resume(st *State, now time.Time) {
	if st.PauseKind == PauseInconclusive {
		if st.Analysis != nil && st.Analysis.Phase == analysis.Inconclusive {
			st.Phase, st.Analysis = Progressing, nil // the step starts its analysis again
		} else {
			st.Phase = Progressing
			if st.Analysis != nil {
				st.Phase = Analyzing
			}
		}
		if st.Background != nil && st.Background.Phase == analysis.Inconclusive {
			st.Background = nil
		}
		st.PauseKind = ""
	} else {
		st.Phase, st.PauseKind = st.Resume, st.ResumeKind
		if st.PauseKind == PauseTimed {
			st.PauseCheckpoint = now
		}
	}
	st.Resume, st.ResumeKind, st.Reason = "", "", ""
}

// Rollback goes back to step n: the weight and header routes return to what
// they were when step n began, and the plan carries on from there.
func (e *Engine) Rollback(ctx context.Context, n int, actor, reason string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n < 0 || n >= len(e.plan.Steps) {
		return &CommandError{"rollback", e.st.Phase, fmt.Sprintf("step %d does not exist (0-%d)", n, len(e.plan.Steps)-1)}
	}
	now := e.Now()
	return e.goTo(ctx, actor, "rolledBack", orDefault(reason, fmt.Sprintf("rolled back to step %d", n)), func(st *State) {
		e.moveTo(n, now)
		st.Background = nil
	})
}
