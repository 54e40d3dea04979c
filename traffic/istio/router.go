package istio

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/traffic"
	"github.com/cutover-dev/cutover/traffic/kubepatch"
)

// Type is the router's name in status and events.
const Type = "Istio"

var (
	virtualServiceGVK  = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}
	destinationRuleGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "DestinationRule"}
	serviceEntryGVK    = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "ServiceEntry"}
)

// Config says which routes of which VirtualService move traffic between
// which destinations.
type Config struct {
	Namespace      string
	VirtualService string
	// Routes are the names of the HTTP routes whose weights the plan sets.
	Routes []string
	// StableHost and CanaryHost are the destinations' hosts as the routes
	// write them (a Service name, its FQDN, or an external host).
	StableHost, CanaryHost string
	// DestinationRule, when set, tells stable from canary by subset of one
	// host instead of by host.
	DestinationRule *DestinationRule
	// External lists hosts outside the mesh (a legacy side) that get a
	// ServiceEntry before any route points at them.
	External []ExternalHost
	// Owners own the ServiceEntries the router creates, so that they go
	// with the plan.
	Owners []metav1.OwnerReference
}

// DestinationRule names the subsets of the stable and canary pods.
type DestinationRule struct {
	Name, StableSubset, CanarySubset string
}

// ExternalHost is a host:port outside the cluster.
type ExternalHost struct {
	Host string
	Port int
}

// Router implements traffic.Router for one VirtualService.
type Router struct {
	c   client.Client
	cfg Config
}

// New returns a router.
func New(c client.Client, cfg Config) *Router { return &Router{c: c, cfg: cfg} }

// Type implements traffic.Router.
func (r *Router) Type() string { return Type }

// ErrNotFound wraps a missing VirtualService, route or subset; the plan
// reports it as a condition and retries.
var ErrNotFound = errors.New("not found")

func (r *Router) get(ctx context.Context, gvk schema.GroupVersionKind, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err := r.c.Get(ctx, client.ObjectKey{Namespace: r.cfg.Namespace, Name: name}, u)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s %s/%s: %w", gvk.Kind, r.cfg.Namespace, name, ErrNotFound)
	}
	return u, err
}

func httpRoutes(vs *unstructured.Unstructured) []any {
	routes, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	return routes
}

// side says whether a route destination is the stable or the canary one.
func (r *Router) side(dest map[string]any) string {
	d, _ := dest["destination"].(map[string]any)
	host, _ := d["host"].(string)
	if dr := r.cfg.DestinationRule; dr != nil {
		switch d["subset"] {
		case dr.StableSubset:
			return "stable"
		case dr.CanarySubset:
			return "canary"
		}
		return ""
	}
	switch {
	case sameHost(host, r.cfg.StableHost, r.cfg.Namespace):
		return "stable"
	case sameHost(host, r.cfg.CanaryHost, r.cfg.Namespace):
		return "canary"
	}
	return ""
}

// sameHost compares a Service's short name with its FQDN forms.
func sameHost(a, b, ns string) bool {
	short := func(h string) string {
		for _, suffix := range []string{"." + ns + ".svc.cluster.local", "." + ns + ".svc", "." + ns} {
			h = strings.TrimSuffix(h, suffix)
		}
		return h
	}
	return a == b || short(a) == short(b)
}

// managedRoute finds a managed route and its stable and canary destinations.
func (r *Router) managedRoute(vs *unstructured.Unstructured, name string) (int, []any, error) {
	routes := httpRoutes(vs)
	i := kubepatch.Index(routes, name)
	if i < 0 {
		return 0, nil, fmt.Errorf("VirtualService %s/%s has no HTTP route named %q: %w", r.cfg.Namespace, r.cfg.VirtualService, name, ErrNotFound)
	}
	dests, _ := routes[i].(map[string]any)["route"].([]any)
	var found []string
	for _, d := range dests {
		if dm, ok := d.(map[string]any); ok {
			found = append(found, r.side(dm))
		}
	}
	if !slices.Contains(found, "stable") || !slices.Contains(found, "canary") {
		return 0, nil, fmt.Errorf("VirtualService %s/%s route %q needs a destination for stable (%s) and one for canary (%s)",
			r.cfg.Namespace, r.cfg.VirtualService, name, r.describe("stable"), r.describe("canary"))
	}
	return i, dests, nil
}

func (r *Router) describe(side string) string {
	if dr := r.cfg.DestinationRule; dr != nil {
		if side == "stable" {
			return "subset " + dr.StableSubset
		}
		return "subset " + dr.CanarySubset
	}
	if side == "stable" {
		return r.cfg.StableHost
	}
	return r.cfg.CanaryHost
}

// SetWeight implements traffic.Router. Destinations come first: external
// hosts get their ServiceEntry and subsets must exist before a route
// points at them (Argo Rollouts #4564: 503s when a weight moved to a
// subset that was not there yet).
func (r *Router) SetWeight(ctx context.Context, weight int) error {
	if err := r.ensureDestinations(ctx, weight); err != nil {
		return err
	}
	vs, err := r.get(ctx, virtualServiceGVK, r.cfg.VirtualService)
	if err != nil {
		return err
	}
	var p kubepatch.Patch
	for _, name := range r.cfg.Routes {
		i, dests, err := r.managedRoute(vs, name)
		if err != nil {
			return err
		}
		p.Test(fmt.Sprintf("/spec/http/%d/name", i), name)
		for j, d := range dests {
			dm := d.(map[string]any)
			want := int64(0)
			switch r.side(dm) {
			case "stable":
				want = int64(100 - weight)
			case "canary":
				want = int64(weight)
			default:
				continue // a third destination the plan does not manage
			}
			cur, had := dm["weight"]
			if had && kubepatch.Int(cur) == want {
				continue
			}
			p.Set(fmt.Sprintf("/spec/http/%d/route/%d/weight", i, j), want, had)
		}
	}
	return p.Apply(ctx, r.c, vs)
}

func (r *Router) ensureDestinations(ctx context.Context, weight int) error {
	for _, ext := range r.cfg.External {
		if err := r.ensureServiceEntry(ctx, ext); err != nil {
			return err
		}
	}
	dr := r.cfg.DestinationRule
	if dr == nil {
		return nil
	}
	obj, err := r.get(ctx, destinationRuleGVK, dr.Name)
	if err != nil {
		return err
	}
	subsets, _, _ := unstructured.NestedSlice(obj.Object, "spec", "subsets")
	for _, want := range []string{dr.StableSubset, dr.CanarySubset} {
		if kubepatch.Index(subsets, want) < 0 && (want == dr.StableSubset || weight > 0) {
			return fmt.Errorf("DestinationRule %s/%s has no subset %q; not routing to it: %w", r.cfg.Namespace, dr.Name, want, ErrNotFound)
		}
	}
	return nil
}

// ensureServiceEntry makes an external host routable from the mesh.
func (r *Router) ensureServiceEntry(ctx context.Context, ext ExternalHost) error {
	name := "cutover-" + strings.NewReplacer(".", "-", ":", "-").Replace(ext.Host)
	want := map[string]any{
		"hosts":      []any{ext.Host},
		"location":   "MESH_EXTERNAL",
		"resolution": "DNS",
		"ports":      []any{map[string]any{"number": int64(ext.Port), "name": fmt.Sprintf("http-%d", ext.Port), "protocol": "HTTP"}},
	}
	se, err := r.get(ctx, serviceEntryGVK, name)
	if errors.Is(err, ErrNotFound) {
		se = &unstructured.Unstructured{Object: map[string]any{"spec": want}}
		se.SetGroupVersionKind(serviceEntryGVK)
		se.SetNamespace(r.cfg.Namespace)
		se.SetName(name)
		se.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "cutover"})
		se.SetOwnerReferences(r.cfg.Owners)
		return r.c.Create(ctx, se)
	}
	if err != nil {
		return err
	}
	if reflect.DeepEqual(se.Object["spec"], want) {
		return nil
	}
	se.Object["spec"] = want
	return r.c.Update(ctx, se)
}

// destination is the canary's destination as the first managed route
// writes it, port and subset included.
func (r *Router) destination(vs *unstructured.Unstructured, side string) (map[string]any, error) {
	_, dests, err := r.managedRoute(vs, r.cfg.Routes[0])
	if err != nil {
		return nil, err
	}
	for _, d := range dests {
		dm := d.(map[string]any)
		if r.side(dm) == side {
			return dm["destination"].(map[string]any), nil
		}
	}
	return nil, fmt.Errorf("no %s destination", side)
}

// SetHeaderRoute implements traffic.Router: a route ahead of the managed
// ones sends matching requests to the canary; no match removes it.
func (r *Router) SetHeaderRoute(ctx context.Context, route *spec.SetHeaderRoute) error {
	vs, err := r.get(ctx, virtualServiceGVK, r.cfg.VirtualService)
	if err != nil {
		return err
	}
	if len(route.Match) == 0 {
		return r.removeRoutes(ctx, vs, route.Name)
	}
	canary, err := r.destination(vs, "canary")
	if err != nil {
		return err
	}
	match := map[string]any{}
	for _, m := range route.Match {
		if m.HeaderName != "" {
			addMatch(match, "headers", m.HeaderName, m.HeaderValue)
		} else {
			addMatch(match, "queryParams", m.QueryParamName, m.QueryParamValue)
		}
	}
	return r.putRoute(ctx, vs, map[string]any{
		"name":  route.Name,
		"match": []any{match},
		"route": []any{map[string]any{"destination": canary, "weight": int64(100)}},
	})
}

func addMatch(match map[string]any, field, key string, v *spec.StringMatch) {
	m, _ := match[field].(map[string]any)
	if m == nil {
		m = map[string]any{}
		match[field] = m
	}
	m[key] = stringMatch(v)
}

func stringMatch(v *spec.StringMatch) map[string]any {
	switch {
	case v == nil:
		return map[string]any{"regex": ".*"}
	case v.Exact != nil:
		return map[string]any{"exact": *v.Exact}
	case v.Prefix != nil:
		return map[string]any{"prefix": *v.Prefix}
	default:
		return map[string]any{"regex": *v.Regex}
	}
}

// SetMirrorRoute implements traffic.Router: matching requests go where the
// managed route sends them, and a percentage is copied to the canary.
func (r *Router) SetMirrorRoute(ctx context.Context, route *spec.SetMirrorRoute) error {
	vs, err := r.get(ctx, virtualServiceGVK, r.cfg.VirtualService)
	if err != nil {
		return err
	}
	if len(route.Match) == 0 {
		return r.removeRoutes(ctx, vs, route.Name)
	}
	_, dests, err := r.managedRoute(vs, r.cfg.Routes[0])
	if err != nil {
		return err
	}
	canary, err := r.destination(vs, "canary")
	if err != nil {
		return err
	}
	var matches []any
	for _, m := range route.Match {
		hm := map[string]any{}
		if m.Method != nil {
			hm["method"] = stringMatch(m.Method)
		}
		if m.Path != nil {
			hm["uri"] = stringMatch(m.Path)
		}
		for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
			v := m.Headers[k]
			addMatch(hm, "headers", k, &v)
		}
		matches = append(matches, hm)
	}
	pct := 100
	if route.Percentage != nil {
		pct = *route.Percentage
	}
	return r.putRoute(ctx, vs, map[string]any{
		"name":             route.Name,
		"match":            matches,
		"route":            dests,
		"mirror":           canary,
		"mirrorPercentage": map[string]any{"value": float64(pct)},
	})
}

var httpField = []string{"spec", "http"}

// putRoute adds a plan's route ahead of all others, or replaces it.
func (r *Router) putRoute(ctx context.Context, vs *unstructured.Unstructured, route map[string]any) error {
	return kubepatch.PutManaged(ctx, r.c, vs, httpField, route, "0")
}

// removeRoutes removes routes the plan added, by name.
func (r *Router) removeRoutes(ctx context.Context, vs *unstructured.Unstructured, names ...string) error {
	return kubepatch.RemoveManaged(ctx, r.c, vs, httpField, names...)
}

// RemoveManagedRoutes implements traffic.Router.
func (r *Router) RemoveManagedRoutes(ctx context.Context, keep ...string) error {
	vs, err := r.get(ctx, virtualServiceGVK, r.cfg.VirtualService)
	if err != nil {
		return err
	}
	return r.removeRoutes(ctx, vs, kubepatch.ManagedRoutesExcept(vs, keep)...)
}

// VerifyWeight implements traffic.Router by reading the VirtualService back.
func (r *Router) VerifyWeight(ctx context.Context, weight int) (*bool, error) {
	vs, err := r.get(ctx, virtualServiceGVK, r.cfg.VirtualService)
	if err != nil {
		return nil, err
	}
	ok := true
	for _, name := range r.cfg.Routes {
		_, dests, err := r.managedRoute(vs, name)
		if err != nil {
			return nil, err
		}
		for _, d := range dests {
			dm := d.(map[string]any)
			if r.side(dm) == "canary" && kubepatch.Int(dm["weight"]) != int64(weight) {
				ok = false
			}
		}
	}
	return &ok, nil
}

var _ traffic.Router = (*Router)(nil)
