package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/internal/kubetest"
)

// harness is a real kube-apiserver with the Cutover, Istio and Gateway API
// CRDs, and controllers started in-process as the binary starts them.
type harness struct {
	t   *testing.T
	ctx context.Context
	cfg *rest.Config
	c   client.Client
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	cfg := kubetest.Start(t, append([]string{
		filepath.Join("..", "deploy", "crd"),
		kubetest.IstioCRDs(t, kubetest.GoModVersion(t, "istio.io/api")),
		filepath.Join(kubetest.GatewayAPICRDs(t), "gateway.networking.k8s.io_httproutes.yaml"),
	}, kubetest.ArgoTemplateCRDs(t)...)...)
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	h := &harness{t: t, ctx: ctx, cfg: cfg, c: c}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	return h
}

// controllerProcess is one controller replica.
type controllerProcess struct {
	t    *testing.T
	mgr  ctrl.Manager
	stop context.CancelFunc
	done chan error
	once sync.Once
}

func (h *harness) startController() *controllerProcess {
	h.t.Helper()
	mgr, err := NewManager(h.cfg, Options{
		MetricsAddr: "0", ProbeAddr: "0",
		LeaderElection: true, LeaderElectionNamespace: "default",
		LeaseDuration: 8 * time.Second, RenewDeadline: 6 * time.Second, RetryPeriod: 300 * time.Millisecond,
		Interval:         100 * time.Millisecond,
		Log:              slog.New(slog.NewTextHandler(io.Discard, nil)),
		SeveralInProcess: true,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	p := &controllerProcess{t: h.t, mgr: mgr, stop: cancel, done: make(chan error, 1)}
	go func() { p.done <- mgr.Start(ctx) }()
	h.t.Cleanup(p.shutdown)
	return p
}

// shutdown stops the replica and waits for it, once.
func (p *controllerProcess) shutdown() {
	p.once.Do(func() {
		p.stop()
		select {
		case err := <-p.done:
			if err != nil {
				p.t.Errorf("controller: %v", err)
			}
		case <-time.After(30 * time.Second):
			p.t.Error("the controller did not stop within 30s")
		}
	})
}

func (h *harness) apply(doc string) {
	h.t.Helper()
	kubetest.Create(h.t, h.ctx, h.c, doc)
}

func (h *harness) cutover(name string) *v1alpha1.Cutover {
	h.t.Helper()
	co := &v1alpha1.Cutover{}
	if err := h.c.Get(h.ctx, types.NamespacedName{Namespace: "shop", Name: name}, co); err != nil {
		h.t.Fatal(err)
	}
	return co
}

// waitFor polls the Cutover until cond holds.
func (h *harness) waitFor(name, what string, cond func(*v1alpha1.Cutover) bool) *v1alpha1.Cutover {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		co := h.cutover(name)
		if cond(co) {
			return co
		}
		if time.Now().After(deadline) {
			data, _ := json.MarshalIndent(co.Status, "", "  ")
			h.t.Fatalf("cutover %s: waited 60s for %s; status:\n%s", name, what, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eventually polls cond for up to 30 s; the mesh follows the status.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func phaseAt(phase string, step int32) func(*v1alpha1.Cutover) bool {
	return func(co *v1alpha1.Cutover) bool {
		return co.Status.Phase == phase && co.Status.CurrentStepIndex == step
	}
}

// command sends a command the way the CLI does and waits for its outcome.
func (h *harness) command(name, command string) string {
	h.t.Helper()
	id := fmt.Sprintf("%s-%d", command, time.Now().UnixNano())
	data, _ := json.Marshal(Command{ID: id, Command: command, Actor: "test"})
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{v1alpha1.CommandAnnotation: string(data)}}})
	if err := h.c.Patch(h.ctx, &v1alpha1.Cutover{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}}, client.RawPatch(types.MergePatchType, patch)); err != nil {
		h.t.Fatal(err)
	}
	co := h.waitFor(name, command+" to be carried out", func(co *v1alpha1.Cutover) bool {
		return co.Status.LastCommand != nil && co.Status.LastCommand.ID == id
	})
	return co.Status.LastCommand.Error
}

var vsGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}

const virtualService = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [www.example.com]
  http:
  - name: admin
    match: [{uri: {prefix: /admin}}]
    timeout: 3s
    route: [{destination: {host: admin}}]
  - name: primary
    route:
    - {destination: {host: web-stable, port: {number: 80}}, weight: 100}
    - {destination: {host: web-canary, port: {number: 80}}, weight: 0}
`

const plan = `apiVersion: cutover.dev/v1alpha1
kind: Cutover
metadata: {name: %s, namespace: shop}
spec:
  stable: {service: web-stable}
  canary: {service: web-canary}
  strategy:
    canary:
      steps:
      - setHeaderRoute:
          name: canary-preview
          match: [{headerName: x-canary, headerValue: {exact: always}}]
      - setWeight: 20
      - pause: {duration: 700ms}
      - setWeight: 50
      - pause: {}
      - setWeight: 100
  trafficRouting:
%s
`

const istioRouting = `    istio:
      virtualService: {name: web, routes: [primary]}`

// vsState is what a user would look at in the VirtualService: the
// primary route's canary weight, the route names, and each route's JSON.
func (h *harness) vsState() (canary int64, names []string, routes map[string]string) {
	h.t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(vsGVK)
	if err := h.c.Get(h.ctx, types.NamespacedName{Namespace: "shop", Name: "web"}, u); err != nil {
		h.t.Fatal(err)
	}
	http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	routes = map[string]string{}
	for _, r := range http {
		rm := r.(map[string]any)
		data, _ := json.Marshal(rm)
		name := rm["name"].(string)
		names = append(names, name)
		routes[name] = string(data)
		if name != "primary" {
			continue
		}
		for _, d := range rm["route"].([]any) {
			dm := d.(map[string]any)
			if dm["destination"].(map[string]any)["host"] == "web-canary" {
				canary, _ = dm["weight"].(int64)
			}
		}
	}
	return canary, names, routes
}

// watchWeights records each distinct canary weight the VirtualService
// shows, in order, until stop is called.
func (h *harness) watchWeights() (stop func() []int64) {
	var mu sync.Mutex
	var seen []int64
	done := make(chan struct{})
	finished := make(chan struct{})
	look := func() {
		w, _, _ := h.vsState()
		mu.Lock()
		if len(seen) == 0 || seen[len(seen)-1] != w {
			seen = append(seen, w)
		}
		mu.Unlock()
	}
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				// One last look: the caller may have seen a weight that
				// came after this loop's previous one.
				look()
				return
			default:
			}
			look()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() []int64 {
		close(done)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

func TestIstioPlanFollowsTheStepsAndLeavesOtherRoutesAlone(t *testing.T) {
	h := newHarness(t)
	h.apply(virtualService)
	_, _, before := h.vsState()
	stopWatch := h.watchWeights()
	h.startController()
	h.apply(fmt.Sprintf(plan, "web", istioRouting))

	co := h.waitFor("web", "the manual pause after 50 %", phaseAt("Paused", 4))
	if co.Status.CanaryWeight != 50 || co.Status.StableWeight != 50 {
		t.Errorf("status weights %d/%d; want 50/50", co.Status.StableWeight, co.Status.CanaryWeight)
	}
	if c := meta.FindStatusCondition(co.Status.Conditions, v1alpha1.ConditionPaused); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Paused condition: %+v", c)
	}
	_, names, routes := h.vsState()
	if strings.Join(names, ",") != "canary-preview,admin,primary" {
		t.Errorf("routes while paused: %v; want the header route first", names)
	}
	if !strings.Contains(routes["canary-preview"], `"x-canary":{"exact":"always"}`) {
		t.Errorf("header route: %s", routes["canary-preview"])
	}

	if msg := h.command("web", "promote"); msg != "" {
		t.Fatalf("promote: %s", msg)
	}
	co = h.waitFor("web", "completion", func(co *v1alpha1.Cutover) bool { return co.Status.Phase == "Completed" })
	if c := meta.FindStatusCondition(co.Status.Conditions, v1alpha1.ConditionCompleted); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Completed condition: %+v", c)
	}
	// The status is written before the plan acts on it; the mesh follows.
	h.eventually("the VirtualService to reach 100 % without the header route", func() bool {
		canary, names, _ := h.vsState()
		return canary == 100 && strings.Join(names, ",") == "admin,primary"
	})
	seen := stopWatch()
	if want := "[0 20 50 100]"; fmt.Sprint(seen) != want {
		t.Errorf("canary weights seen in the VirtualService: %v; want %s", seen, want)
	}
	_, _, routes = h.vsState()
	if routes["admin"] != before["admin"] {
		t.Errorf("the unmanaged route changed:\nbefore %s\nafter  %s", before["admin"], routes["admin"])
	}
	// Each transition is a Kubernetes Event on the Cutover.
	evs := &eventsList{}
	if err := h.c.List(h.ctx, evs.obj(), client.InNamespace("shop")); err != nil {
		t.Fatal(err)
	}
	if reasons := evs.reasons("web"); !strings.Contains(reasons, "Completed") || !strings.Contains(reasons, "Started") {
		t.Errorf("events on the Cutover: %s", reasons)
	}
}

func TestAbortReturnsAllTrafficToStable(t *testing.T) {
	h := newHarness(t)
	h.apply(virtualService)
	h.startController()
	h.apply(fmt.Sprintf(plan, "web", istioRouting))
	h.waitFor("web", "the manual pause", phaseAt("Paused", 4))
	if msg := h.command("web", "abort"); msg != "" {
		t.Fatalf("abort: %s", msg)
	}
	co := h.waitFor("web", "Aborted", func(co *v1alpha1.Cutover) bool { return co.Status.Phase == "Aborted" })
	if c := meta.FindStatusCondition(co.Status.Conditions, v1alpha1.ConditionAborted); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Aborted condition: %+v", c)
	}
	h.eventually("the VirtualService back at 0 % without the header route", func() bool {
		canary, names, _ := h.vsState()
		return canary == 0 && strings.Join(names, ",") == "admin,primary"
	})
	// A command the state refuses says why, and changes nothing.
	if msg := h.command("web", "promote"); !strings.Contains(msg, "refused in phase Aborted") {
		t.Errorf("promote after abort: %q", msg)
	}
}

func TestRestartResumesFromStatus(t *testing.T) {
	h := newHarness(t)
	h.apply(virtualService)
	first := h.startController()
	h.apply(fmt.Sprintf(plan, "web", istioRouting))
	h.waitFor("web", "the manual pause", phaseAt("Paused", 4))
	first.shutdown()

	version := func() string {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(vsGVK)
		if err := h.c.Get(h.ctx, types.NamespacedName{Namespace: "shop", Name: "web"}, u); err != nil {
			t.Fatal(err)
		}
		return u.GetResourceVersion()
	}
	before := version()
	stopWatch := h.watchWeights()
	h.startController()
	time.Sleep(time.Second) // the new controller has had time to do something wrong
	co := h.cutover("web")
	if co.Status.Phase != "Paused" || co.Status.CurrentStepIndex != 4 {
		t.Fatalf("after restart: %s at step %d; want Paused at 4", co.Status.Phase, co.Status.CurrentStepIndex)
	}
	// The mesh already matched the status: the restart wrote nothing to the
	// VirtualService, so the header route was never taken away and put back.
	if after := version(); after != before {
		_, names, _ := h.vsState()
		t.Errorf("the restart changed the VirtualService (resourceVersion %s -> %s; routes now %v)", before, after, names)
	}
	// A spec edited mid-plan that renames the header route: the new name
	// goes in, the old one goes, the weight stays.
	co = h.cutover("web")
	co.Spec.Strategy.Canary.Steps[0].SetHeaderRoute.Name = "preview-2"
	if err := h.c.Update(h.ctx, co); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		w, names, _ := h.vsState()
		if slices.Contains(names, "preview-2") && !slices.Contains(names, "canary-preview") && w == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after renaming the header route: routes %v, canary weight %d", names, w)
		}
	}
	if msg := h.command("web", "promote"); msg != "" {
		t.Fatalf("promote: %s", msg)
	}
	h.waitFor("web", "completion", func(co *v1alpha1.Cutover) bool { return co.Status.Phase == "Completed" })
	// The status is written before the plan acts on it; the mesh follows,
	// and the watcher must see it before it stops.
	h.eventually("the VirtualService to reach 100 %", func() bool {
		canary, _, _ := h.vsState()
		return canary == 100
	})
	time.Sleep(100 * time.Millisecond) // past the watcher's next look
	if seen := stopWatch(); fmt.Sprint(seen) != "[50 100]" {
		t.Errorf("weights seen after the restart: %v; want [50 100], never back to an earlier step", seen)
	}
}

func TestOnlyTheLeaderReconciles(t *testing.T) {
	h := newHarness(t)
	a, b := h.startController(), h.startController()
	leader := func() (int, string) {
		n := 0
		for _, p := range []*controllerProcess{a, b} {
			select {
			case <-p.mgr.Elected():
				n++
			default:
			}
		}
		lease := &coordinationv1.Lease{}
		_ = h.c.Get(h.ctx, types.NamespacedName{Namespace: "default", Name: "cutover-controller.cutover.dev"}, lease)
		holder := ""
		if lease.Spec.HolderIdentity != nil {
			holder = *lease.Spec.HolderIdentity
		}
		return n, holder
	}
	deadline := time.Now().Add(30 * time.Second)
	for n, _ := leader(); n == 0; n, _ = leader() {
		if time.Now().After(deadline) {
			t.Fatal("no controller became leader")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Over more than a lease period, never two leaders.
	for range 200 {
		if n, holder := leader(); n != 1 || holder == "" {
			t.Fatalf("%d replicas elected, lease holder %q", n, holder)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, first := leader()
	var winner, other *controllerProcess = a, b
	select {
	case <-b.mgr.Elected():
		winner, other = b, a
	default:
	}
	winner.shutdown() // releases the lease on the way out
	select {
	case <-other.mgr.Elected():
	case <-time.After(30 * time.Second):
		t.Fatal("the second replica did not take over")
	}
	if _, holder := leader(); holder == first || holder == "" {
		t.Errorf("lease holder after failover %q; before %q", holder, first)
	}
}

func TestBadSpecsAreRefusedWithTheFieldPath(t *testing.T) {
	h := newHarness(t)
	h.startController()
	// The CRD's OpenAPI validation refuses some at once.
	bad := strings.Replace(fmt.Sprintf(plan, "web", istioRouting), "setWeight: 20", "setWeight: 150", 1)
	u := &unstructured.Unstructured{}
	_ = yaml.Unmarshal([]byte(bad), &u.Object)
	err := h.c.Create(h.ctx, u)
	if err == nil || !strings.Contains(err.Error(), "spec.strategy.canary.steps[1].setWeight") {
		t.Errorf("setWeight 150: err = %v", err)
	}
	both := strings.Replace(fmt.Sprintf(plan, "web", istioRouting), "stable: {service: web-stable}", "stable: {service: web-stable, externalHost: legacy.example.com}", 1)
	u = &unstructured.Unstructured{}
	_ = yaml.Unmarshal([]byte(both), &u.Object)
	if err := h.c.Create(h.ctx, u); err == nil || !strings.Contains(err.Error(), "set exactly one of service and externalHost") {
		t.Errorf("a side with both a service and a host: err = %v", err)
	}
	// The reconciler checks the rest, as cutover validate does.
	unknown := strings.Replace(fmt.Sprintf(plan, "web", istioRouting), "      - pause: {}\n", "      - analysis: {templates: [{templateName: smoke}]}\n", 1)
	h.apply(unknown)
	co := h.waitFor("web", "refusal", func(co *v1alpha1.Cutover) bool { return co.Status.Phase == PhaseInvalid })
	if want := `spec.strategy.canary.steps[4].analysis.templates[0].templateName: unknown AnalysisTemplate "smoke"`; !strings.Contains(co.Status.Message, want) {
		t.Errorf("status message %q; want %q", co.Status.Message, want)
	}
	c := meta.FindStatusCondition(co.Status.Conditions, v1alpha1.ConditionProgressing)
	if c == nil || c.Reason != "InvalidSpec" || !strings.Contains(c.Message, "steps[4]") {
		t.Errorf("Progressing condition: %+v", c)
	}
}

func TestMissingVirtualServiceIsAConditionNotACrash(t *testing.T) {
	h := newHarness(t)
	h.startController()
	h.apply(fmt.Sprintf(plan, "web", istioRouting))
	co := h.waitFor("web", "a Degraded status", func(co *v1alpha1.Cutover) bool { return co.Status.Phase == "Degraded" })
	c := meta.FindStatusCondition(co.Status.Conditions, v1alpha1.ConditionHealthy)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "TrafficRouterError" || !strings.Contains(c.Message, "VirtualService shop/web") {
		t.Errorf("Healthy condition: %+v", c)
	}
	// Once the VirtualService exists, the plan carries on.
	h.apply(virtualService)
	h.waitFor("web", "the manual pause", phaseAt("Paused", 4))
}

func TestGatewayAPIPlan(t *testing.T) {
	h := newHarness(t)
	h.apply(httpRoute)
	read := func() (int64, []string, string) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"})
		if err := h.c.Get(h.ctx, types.NamespacedName{Namespace: "shop", Name: "web"}, u); err != nil {
			t.Fatal(err)
		}
		rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
		var names []string
		var canary int64
		admin := ""
		for _, r := range rules {
			rm := r.(map[string]any)
			names = append(names, rm["name"].(string))
			data, _ := json.Marshal(rm)
			if rm["name"] == "admin" {
				admin = string(data)
			}
			if rm["name"] == "primary" {
				for _, ref := range rm["backendRefs"].([]any) {
					if ref.(map[string]any)["name"] == "web-canary" {
						canary, _ = ref.(map[string]any)["weight"].(int64)
					}
				}
			}
		}
		return canary, names, admin
	}
	_, _, adminBefore := read()
	h.startController()
	h.apply(fmt.Sprintf(plan, "web", `    gatewayAPI:
      httpRoute: {name: web}`))
	h.waitFor("web", "the manual pause", phaseAt("Paused", 4))
	canary, names, admin := read()
	if canary != 50 || strings.Join(names, ",") != "admin,primary,canary-preview" || admin != adminBefore {
		t.Errorf("paused: canary %d, rules %v, admin rule unchanged %v", canary, names, admin == adminBefore)
	}
	if msg := h.command("web", "abort"); msg != "" {
		t.Fatal(msg)
	}
	h.waitFor("web", "Aborted", func(co *v1alpha1.Cutover) bool { return co.Status.Phase == "Aborted" })
	h.eventually("the HTTPRoute back at 0 % without the header rule", func() bool {
		canary, names, _ := read()
		return canary == 0 && strings.Join(names, ",") == "admin,primary"
	})
}

const httpRoute = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: shop}
spec:
  parentRefs: [{name: public}]
  rules:
  - name: admin
    matches: [{path: {type: PathPrefix, value: /admin}}]
    backendRefs: [{name: admin, port: 80}]
  - name: primary
    backendRefs:
    - {name: web-stable, port: 80, weight: 100}
    - {name: web-canary, port: 80, weight: 0}
`

// routeCanaryWeight is the canary's weight in the HTTPRoute's primary rule.
func (h *harness) routeCanaryWeight() int64 {
	h.t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"})
	if err := h.c.Get(h.ctx, types.NamespacedName{Namespace: "shop", Name: "web"}, u); err != nil {
		h.t.Fatal(err)
	}
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	for _, r := range rules {
		rm := r.(map[string]any)
		if rm["name"] != "primary" {
			continue
		}
		for _, ref := range rm["backendRefs"].([]any) {
			if ref.(map[string]any)["name"] == "web-canary" {
				w, _ := ref.(map[string]any)["weight"].(int64)
				return w
			}
		}
	}
	return -1
}

// eventsList reads events.k8s.io/v1 Events.
type eventsList struct{ list unstructured.UnstructuredList }

func (e *eventsList) obj() *unstructured.UnstructuredList {
	e.list.SetGroupVersionKind(schema.GroupVersionKind{Group: "events.k8s.io", Version: "v1", Kind: "EventList"})
	return &e.list
}

func (e *eventsList) reasons(name string) string {
	var out []string
	for _, ev := range e.list.Items {
		if n, _, _ := unstructured.NestedString(ev.Object, "regarding", "name"); n == name {
			r, _, _ := unstructured.NestedString(ev.Object, "reason")
			out = append(out, r)
		}
	}
	return strings.Join(out, ",")
}
