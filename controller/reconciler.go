package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/notify"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/traffic"
	"github.com/cutover-dev/cutover/traffic/gatewayapi"
	"github.com/cutover-dev/cutover/traffic/istio"
)

// PhaseInvalid is the phase of a Cutover whose spec the controller refused.
const PhaseInvalid = "Invalid"

// Reconciler runs one engine per Cutover. An engine lives as long as its
// Cutover's generation; its state lives in the status, so a new engine (a
// restart, a new leader, a changed spec) resumes where the last one was.
type Reconciler struct {
	Client    client.Client
	Recorder  events.EventRecorder
	Providers analysis.Providers
	Log       *slog.Logger
	// Interval is how often a running plan is ticked.
	Interval time.Duration

	// APIReader reads Secrets for analysis arguments without caching
	// them (a cache would watch every Secret); Client when nil.
	APIReader client.Reader
	// Notifications sends the plans' changes to their webhooks; none when
	// nil.
	Notifications *notify.Dispatcher

	mu    sync.Mutex
	plans map[types.NamespacedName]*running
}

func (r *Reconciler) reader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

type running struct {
	engine     *rollout.Engine
	store      *statusStore
	generation int64
}

// SetupWithManager registers the reconciler.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&v1alpha1.Cutover{}).Named("cutover").Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	co := &v1alpha1.Cutover{}
	if err := r.Client.Get(ctx, req.NamespacedName, co); err != nil {
		if apierrors.IsNotFound(err) {
			r.gone(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	fromCluster, err := argoTemplates(ctx, r.Client, co)
	if err != nil {
		return ctrl.Result{}, err
	}
	resolved, fromCluster, err := resolveArgs(ctx, r.reader(), co, fromCluster)
	if err != nil {
		// A Secret created later lets the plan start then.
		r.forget(req.NamespacedName)
		return ctrl.Result{RequeueAfter: r.Interval}, r.refuse(ctx, co, err)
	}
	plan, err := planFor(resolved, fromCluster...)
	if err != nil {
		r.forget(req.NamespacedName)
		return ctrl.Result{}, r.refuse(ctx, co, err)
	}
	run, err := r.engineFor(ctx, co, plan)
	if err != nil {
		return ctrl.Result{}, err
	}
	run.store.ctx = ctx
	run.store.obj.Annotations = co.Annotations
	if err := r.command(ctx, co, run); err != nil {
		return ctrl.Result{}, err
	}
	run.engine.Tick(withCutover(ctx, co))
	v := run.engine.View()
	st := v.State
	before := run.store.obj.Status.DeepCopy()
	summarize(&run.store.obj.Status, &st, co.Generation)
	run.store.obj.Status.DecommissionFrom = nil
	if d := v.DecommissionFrom; d != nil {
		run.store.obj.Status.DecommissionFrom = &metav1.Time{Time: d.Truncate(time.Second)}
	}
	if !equalStatus(before, &run.store.obj.Status) {
		if err := patchStatus(ctx, r.Client, run.store.obj); err != nil {
			return ctrl.Result{}, err
		}
	}
	if st.Phase == rollout.Completed || st.Phase == rollout.Aborted {
		return ctrl.Result{}, nil // a command or a spec change wakes it
	}
	return ctrl.Result{RequeueAfter: r.Interval}, nil
}

func (r *Reconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.plans, key)
}

// gone forgets a deleted Cutover and its webhooks.
func (r *Reconciler) gone(key types.NamespacedName) {
	r.forget(key)
	if r.Notifications != nil {
		r.Notifications.SetFor(key.String(), nil)
	}
}

// engineFor returns the running engine, or starts one from the status.
func (r *Reconciler) engineFor(ctx context.Context, co *v1alpha1.Cutover, plan *rollout.Plan) (*running, error) {
	key := types.NamespacedName{Namespace: co.Namespace, Name: co.Name}
	r.mu.Lock()
	run := r.plans[key]
	r.mu.Unlock()
	if run != nil && run.generation == co.Generation {
		return run, nil
	}
	store := &statusStore{c: r.Client, recorder: r.Recorder, obj: co.DeepCopy(), ctx: ctx}
	if run != nil {
		store.obj.Status = run.store.obj.Status // the newest state, not the cache's
	}
	router := r.routerFor(co)
	eng, err := rollout.NewEngine(plan, router, r.Providers, store, r.Log.With("cutover", key.String()))
	if err != nil {
		return nil, err
	}
	if r.Notifications != nil {
		r.setNotifications(ctx, co)
		eng.Notify(func(ev notify.Event) { r.Notifications.SendTo(key.String(), ev) })
	}
	// Put the mesh in the state the status says, as after a restart. A
	// failure is logged here; the plan's next router call meets it again
	// and turns it into a Degraded status.
	if err := eng.Reconcile(ctx); err != nil {
		r.Log.Warn("reconciling traffic", "cutover", key.String(), "err", err)
	}
	run = &running{engine: eng, store: store, generation: co.Generation}
	r.mu.Lock()
	if r.plans == nil {
		r.plans = map[types.NamespacedName]*running{}
	}
	r.plans[key] = run
	r.mu.Unlock()
	return run, nil
}

// routerFor builds the Istio or Gateway API router of a Cutover.
func (r *Reconciler) routerFor(co *v1alpha1.Cutover) traffic.Router {
	owner := metav1.OwnerReference{
		APIVersion: v1alpha1.GroupVersion.String(), Kind: "Cutover", Name: co.Name, UID: co.UID,
	}
	host := func(s v1alpha1.Side) string {
		if s.ExternalHost != "" {
			return s.ExternalHost
		}
		return s.Service
	}
	tr := co.Spec.TrafficRouting
	if tr.Istio != nil {
		cfg := istio.Config{
			Namespace: co.Namespace, VirtualService: tr.Istio.VirtualService.Name, Routes: tr.Istio.VirtualService.Routes,
			StableHost: host(co.Spec.Stable), CanaryHost: host(co.Spec.Canary), Owners: []metav1.OwnerReference{owner},
		}
		if dr := tr.Istio.DestinationRule; dr != nil {
			cfg.DestinationRule = &istio.DestinationRule{Name: dr.Name, StableSubset: dr.StableSubset, CanarySubset: dr.CanarySubset}
		}
		for _, s := range []v1alpha1.Side{co.Spec.Stable, co.Spec.Canary} {
			if s.ExternalHost != "" {
				cfg.External = append(cfg.External, istio.ExternalHost{Host: s.ExternalHost, Port: int(max(s.Port, 80))})
			}
		}
		return istio.New(r.Client, cfg)
	}
	cfg := gatewayapi.Config{
		Namespace: co.Namespace, HTTPRoute: tr.GatewayAPI.HTTPRoute.Name, Rules: tr.GatewayAPI.HTTPRoute.Rules,
		StableService: gatewayapi.ServiceName(co.Name, "stable", co.Spec.Stable.Service, co.Spec.Stable.ExternalHost),
		CanaryService: gatewayapi.ServiceName(co.Name, "canary", co.Spec.Canary.Service, co.Spec.Canary.ExternalHost),
		Owners:        []metav1.OwnerReference{owner},
	}
	for side, s := range map[string]v1alpha1.Side{"stable": co.Spec.Stable, "canary": co.Spec.Canary} {
		if s.ExternalHost != "" {
			cfg.External = append(cfg.External, gatewayapi.ExternalHost{
				Service: gatewayapi.ServiceName(co.Name, side, "", s.ExternalHost), Host: s.ExternalHost, Port: max(s.Port, 80),
			})
		}
	}
	return gatewayapi.New(r.Client, cfg)
}

// refuse reports a spec the controller will not run, once per generation.
func (r *Reconciler) refuse(ctx context.Context, co *v1alpha1.Cutover, err error) error {
	if co.Status.Phase == PhaseInvalid && co.Status.ObservedGeneration == co.Generation {
		return nil
	}
	r.tellRefused(co, err)
	co.Status.Phase, co.Status.Message, co.Status.ObservedGeneration = PhaseInvalid, err.Error(), co.Generation
	co.Status.SetCondition(metav1.Condition{Type: v1alpha1.ConditionProgressing, Status: metav1.ConditionFalse, Reason: "InvalidSpec", Message: err.Error(), ObservedGeneration: co.Generation})
	co.Status.SetCondition(metav1.Condition{Type: v1alpha1.ConditionHealthy, Status: metav1.ConditionFalse, Reason: "InvalidSpec", Message: err.Error(), ObservedGeneration: co.Generation})
	r.Recorder.Eventf(co, nil, "Warning", "InvalidSpec", "validate", "%s", truncate(err.Error(), 1000))
	return patchStatus(ctx, r.Client, co)
}

// Command is what the CLI asks of a running plan, in CommandAnnotation.
type Command struct {
	ID      string `json:"id"`
	Command string `json:"command"`
	Full    bool   `json:"full,omitempty"`
	Force   bool   `json:"force,omitempty"`
	ToStep  int    `json:"toStep,omitempty"`
	Actor   string `json:"actor,omitempty"`
}

// command carries out a command from the annotation once, writes its
// outcome to status.lastCommand, then removes the annotation.
func (r *Reconciler) command(ctx context.Context, co *v1alpha1.Cutover, run *running) error {
	raw, ok := co.Annotations[v1alpha1.CommandAnnotation]
	if !ok {
		return nil
	}
	var cmd Command
	result := &v1alpha1.CommandResult{}
	if err := json.Unmarshal([]byte(raw), &cmd); err != nil || cmd.ID == "" {
		result.Error = fmt.Sprintf("annotation %s: not a command: %q", v1alpha1.CommandAnnotation, raw)
	} else if last := run.store.obj.Status.LastCommand; last == nil || last.ID != cmd.ID {
		result.ID, result.Command = cmd.ID, cmd.Command
		actor := "kubectl"
		if cmd.Actor != "" {
			actor = cmd.Actor
		}
		var err error
		e := run.engine
		switch cmd.Command {
		case "promote":
			err = e.Promote(ctx, cmd.Full, cmd.Force, actor, "")
		case "abort":
			err = e.Abort(ctx, actor, "")
		case "retry":
			err = e.Retry(ctx, actor, "")
		case "pause":
			err = e.Pause(ctx, actor, "")
		case "resume":
			err = e.Resume(ctx, actor, "")
		case "rollback":
			err = e.Rollback(ctx, cmd.ToStep, actor, "")
		default:
			err = fmt.Errorf("unknown command %q; one of promote, abort, retry, pause, resume, rollback", cmd.Command)
		}
		if err != nil {
			result.Error = err.Error()
		}
	} else {
		result = nil // done before a restart; only the annotation is left
	}
	if result != nil {
		run.store.obj.Status.LastCommand = result
		if err := patchStatus(ctx, r.Client, run.store.obj); err != nil {
			return err
		}
	}
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:null}}}`, v1alpha1.CommandAnnotation))
	if err := r.Client.Patch(ctx, co, client.RawPatch(types.MergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// summarize fills the status fields people and the CLI read from the
// engine's state.
func summarize(s *v1alpha1.CutoverStatus, st *rollout.State, generation int64) {
	s.ObservedGeneration = generation
	s.Phase = string(st.Phase)
	s.Message = st.Reason
	s.CurrentStepIndex = int32(st.Step)
	s.CanaryWeight, s.StableWeight = int32(st.Weight), int32(100-st.Weight)
	for _, run := range []*analysis.Run{st.Analysis, st.Background} {
		if run == nil || run.Phase == analysis.Running {
			continue
		}
		v := v1alpha1.Verdict{Step: int32(st.Step), Phase: string(run.Phase), Message: runMessage(run)}
		if len(s.Verdicts) == 0 || s.Verdicts[0] != v {
			s.Verdicts = append([]v1alpha1.Verdict{v}, s.Verdicts...)
			if len(s.Verdicts) > 10 {
				s.Verdicts = s.Verdicts[:10]
			}
		}
	}
	cond := func(t string, on bool, reason, msg string) {
		status := metav1.ConditionFalse
		if on {
			status = metav1.ConditionTrue
		}
		if reason == "" {
			reason = string(st.Phase)
		}
		s.SetCondition(metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: generation})
	}
	active := st.Phase == rollout.Progressing || st.Phase == rollout.Analyzing || st.Phase == rollout.Paused
	cond(v1alpha1.ConditionProgressing, active, "", st.Reason)
	pauseReason := ""
	if st.Phase == rollout.Paused {
		pauseReason = "Pause" + eventReason(string(st.PauseKind))
	}
	cond(v1alpha1.ConditionPaused, st.Phase == rollout.Paused, pauseReason, st.Reason)
	healthyReason := "Healthy"
	switch st.Phase {
	case rollout.Degraded:
		healthyReason = "TrafficRouterError"
	case rollout.Aborted:
		healthyReason = "Aborted"
	}
	cond(v1alpha1.ConditionHealthy, st.Phase != rollout.Degraded && st.Phase != rollout.Aborted, healthyReason, st.Reason)
	cond(v1alpha1.ConditionCompleted, st.Phase == rollout.Completed, "", st.Reason)
	cond(v1alpha1.ConditionAborted, st.Phase == rollout.Aborted, "", st.Reason)
}

func runMessage(run *analysis.Run) string {
	for _, m := range run.Metrics {
		if m.Phase != run.Phase || len(m.Measurements) == 0 {
			continue
		}
		last := m.Measurements[len(m.Measurements)-1]
		msg := m.Name + " = " + last.Value
		if last.Message != "" {
			msg += ": " + last.Message
		}
		return msg
	}
	return ""
}

func equalStatus(a, b *v1alpha1.CutoverStatus) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return errors.Join(err1, err2) == nil && string(x) == string(y)
}
