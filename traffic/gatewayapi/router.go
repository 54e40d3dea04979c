package gatewayapi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/traffic"
	"github.com/cutover-dev/cutover/traffic/kubepatch"
)

// Type is the router's name in status and events.
const Type = "GatewayAPI"

var httpRouteGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}

var rulesField = []string{"spec", "rules"}

// ErrNotFound wraps a missing HTTPRoute or rule.
var ErrNotFound = errors.New("not found")

// Config says which rules of which HTTPRoute move traffic between which
// Services.
type Config struct {
	Namespace string
	HTTPRoute string
	// Rules are the names of the managed rules; empty means every rule
	// with a backendRef to both Services.
	Rules                        []string
	StableService, CanaryService string
	// External are sides outside the cluster; each gets a Service without a
	// selector and an EndpointSlice naming its host, before any rule points
	// at it.
	External []ExternalHost
	// Owners own the Services and EndpointSlices the router creates.
	Owners []metav1.OwnerReference
}

// ExternalHost is a host outside the cluster behind a Service of ours.
type ExternalHost struct {
	Service string
	Host    string
	Port    int32
}

// ServiceName is the Service a side is reached through: its own, or for
// an external host the one the router manages, <cutover>-<side>.
func ServiceName(cutover, side, service, externalHost string) string {
	if service != "" || externalHost == "" {
		return service
	}
	return cutover + "-" + side
}

// Router implements traffic.Router for one HTTPRoute.
type Router struct {
	c   client.Client
	cfg Config

	mirrorOnce    sync.Once
	mirrorPercent bool
}

// New returns a router.
func New(c client.Client, cfg Config) *Router { return &Router{c: c, cfg: cfg} }

// Type implements traffic.Router.
func (r *Router) Type() string { return Type }

func (r *Router) get(ctx context.Context) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(httpRouteGVK)
	err := r.c.Get(ctx, client.ObjectKey{Namespace: r.cfg.Namespace, Name: r.cfg.HTTPRoute}, u)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("HTTPRoute %s/%s: %w", r.cfg.Namespace, r.cfg.HTTPRoute, ErrNotFound)
	}
	return u, err
}

func (r *Router) side(ref map[string]any) string {
	if kind, ok := ref["kind"].(string); ok && kind != "Service" {
		return ""
	}
	switch ref["name"] {
	case r.cfg.StableService:
		return "stable"
	case r.cfg.CanaryService:
		return "canary"
	}
	return ""
}

// managedRules are the indexes of the rules whose weights the plan sets.
func (r *Router) managedRules(route *unstructured.Unstructured) ([]int, error) {
	rules, _, _ := unstructured.NestedSlice(route.Object, rulesField...)
	var out []int
	if len(r.cfg.Rules) > 0 {
		for _, name := range r.cfg.Rules {
			i := kubepatch.Index(rules, name)
			if i < 0 {
				return nil, fmt.Errorf("HTTPRoute %s/%s has no rule named %q: %w", r.cfg.Namespace, r.cfg.HTTPRoute, name, ErrNotFound)
			}
			if !r.hasBoth(rules[i]) {
				return nil, r.needsBoth(name)
			}
			out = append(out, i)
		}
		return out, nil
	}
	managed := kubepatch.ManagedRoutes(route)
	for i, rule := range rules {
		name, _ := rule.(map[string]any)["name"].(string)
		if r.hasBoth(rule) && !slices.Contains(managed, name) {
			out = append(out, i)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %w", r.needsBoth("any rule"), ErrNotFound)
	}
	return out, nil
}

func (r *Router) needsBoth(rule string) error {
	return fmt.Errorf("HTTPRoute %s/%s: %s needs backendRefs to both %s and %s",
		r.cfg.Namespace, r.cfg.HTTPRoute, rule, r.cfg.StableService, r.cfg.CanaryService)
}

func (r *Router) hasBoth(rule any) bool {
	refs, _ := rule.(map[string]any)["backendRefs"].([]any)
	var sides []string
	for _, ref := range refs {
		sides = append(sides, r.side(ref.(map[string]any)))
	}
	return slices.Contains(sides, "stable") && slices.Contains(sides, "canary")
}

// SetWeight implements traffic.Router.
func (r *Router) SetWeight(ctx context.Context, weight int) error {
	for _, ext := range r.cfg.External {
		if err := r.ensureExternal(ctx, ext); err != nil {
			return err
		}
	}
	route, err := r.get(ctx)
	if err != nil {
		return err
	}
	idx, err := r.managedRules(route)
	if err != nil {
		return err
	}
	rules, _, _ := unstructured.NestedSlice(route.Object, rulesField...)
	var p kubepatch.Patch
	for _, i := range idx {
		rule := rules[i].(map[string]any)
		p.Test(fmt.Sprintf("/spec/rules/%d/backendRefs", i), rule["backendRefs"])
		for j, ref := range rule["backendRefs"].([]any) {
			rm := ref.(map[string]any)
			var want int64
			switch r.side(rm) {
			case "stable":
				want = int64(100 - weight)
			case "canary":
				want = int64(weight)
			default:
				continue
			}
			cur, had := rm["weight"]
			if had && kubepatch.Int(cur) == want {
				continue
			}
			p.Set(fmt.Sprintf("/spec/rules/%d/backendRefs/%d/weight", i, j), want, had)
		}
	}
	return p.Apply(ctx, r.c, route)
}

// VerifyWeight implements traffic.Router.
func (r *Router) VerifyWeight(ctx context.Context, weight int) (*bool, error) {
	route, err := r.get(ctx)
	if err != nil {
		return nil, err
	}
	idx, err := r.managedRules(route)
	if err != nil {
		return nil, err
	}
	rules, _, _ := unstructured.NestedSlice(route.Object, rulesField...)
	ok := true
	for _, i := range idx {
		for _, ref := range rules[i].(map[string]any)["backendRefs"].([]any) {
			rm := ref.(map[string]any)
			if r.side(rm) == "canary" && kubepatch.Int(rm["weight"]) != int64(weight) {
				ok = false
			}
		}
	}
	return &ok, nil
}

// firstRule is the first managed rule, the model for the plan's own rules.
func (r *Router) firstRule(route *unstructured.Unstructured) (map[string]any, error) {
	idx, err := r.managedRules(route)
	if err != nil {
		return nil, err
	}
	rules, _, _ := unstructured.NestedSlice(route.Object, rulesField...)
	return rules[idx[0]].(map[string]any), nil
}

func (r *Router) ref(rule map[string]any, side string) map[string]any {
	for _, ref := range rule["backendRefs"].([]any) {
		rm := ref.(map[string]any)
		if r.side(rm) == side {
			out := map[string]any{}
			for _, k := range []string{"group", "kind", "name", "namespace", "port"} {
				if v, ok := rm[k]; ok {
					out[k] = v
				}
			}
			return out
		}
	}
	return nil
}

// SetHeaderRoute implements traffic.Router. Gateway API ranks rules by how
// specific their matches are, not by order: the header rule repeats the
// managed rule's path matches and adds the headers, which makes it win.
func (r *Router) SetHeaderRoute(ctx context.Context, hr *spec.SetHeaderRoute) error {
	route, err := r.get(ctx)
	if err != nil {
		return err
	}
	if len(hr.Match) == 0 {
		return kubepatch.RemoveManaged(ctx, r.c, route, rulesField, hr.Name)
	}
	rule, err := r.firstRule(route)
	if err != nil {
		return err
	}
	var headers, queries []any
	for _, m := range hr.Match {
		if m.HeaderName != "" {
			headers = append(headers, httpMatch(m.HeaderName, m.HeaderValue))
		} else {
			queries = append(queries, httpMatch(m.QueryParamName, m.QueryParamValue))
		}
	}
	var matches []any
	base, _ := rule["matches"].([]any)
	if len(base) == 0 {
		base = []any{map[string]any{}}
	}
	for _, b := range base {
		m := map[string]any{}
		maps.Copy(m, b.(map[string]any))
		if len(headers) > 0 {
			m["headers"] = append(slices.Clone(asSlice(m["headers"])), headers...)
		}
		if len(queries) > 0 {
			m["queryParams"] = append(slices.Clone(asSlice(m["queryParams"])), queries...)
		}
		matches = append(matches, m)
	}
	canary := r.ref(rule, "canary")
	canary["weight"] = int64(1)
	return kubepatch.PutManaged(ctx, r.c, route, rulesField, map[string]any{
		"name": hr.Name, "matches": matches, "backendRefs": []any{canary},
	}, "-")
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// httpMatch is a header or query match; Gateway API has exact and regular
// expression matches, so a prefix becomes an anchored expression.
func httpMatch(name string, v *spec.StringMatch) map[string]any {
	m := map[string]any{"name": name}
	switch {
	case v == nil:
		m["type"], m["value"] = "RegularExpression", ".*"
	case v.Exact != nil:
		m["type"], m["value"] = "Exact", *v.Exact
	case v.Prefix != nil:
		m["type"], m["value"] = "RegularExpression", "^"+regexp.QuoteMeta(*v.Prefix)+".*"
	default:
		m["type"], m["value"] = "RegularExpression", *v.Regex
	}
	return m
}

// SetMirrorRoute implements traffic.Router with a rule whose RequestMirror
// filter copies requests to the canary. A percentage below 100 needs an
// installed HTTPRoute CRD with requestMirror.percent (v1.3 and later);
// without it the step is refused rather than mirroring everything.
func (r *Router) SetMirrorRoute(ctx context.Context, mr *spec.SetMirrorRoute) error {
	route, err := r.get(ctx)
	if err != nil {
		return err
	}
	if len(mr.Match) == 0 {
		return kubepatch.RemoveManaged(ctx, r.c, route, rulesField, mr.Name)
	}
	rule, err := r.firstRule(route)
	if err != nil {
		return err
	}
	pct := 100
	if mr.Percentage != nil {
		pct = *mr.Percentage
	}
	mirror := map[string]any{"backendRef": r.ref(rule, "canary")}
	if pct < 100 {
		if !r.supportsMirrorPercent(ctx) {
			return fmt.Errorf("mirroring %d%%: the installed HTTPRoute CRD has no requestMirror.percent: %w", pct, traffic.ErrUnsupported)
		}
		mirror["percent"] = int64(pct)
	}
	var matches []any
	for _, m := range mr.Match {
		hm := map[string]any{}
		if m.Method != nil && m.Method.Exact != nil {
			hm["method"] = *m.Method.Exact
		}
		if p := m.Path; p != nil {
			switch {
			case p.Exact != nil:
				hm["path"] = map[string]any{"type": "Exact", "value": *p.Exact}
			case p.Prefix != nil:
				hm["path"] = map[string]any{"type": "PathPrefix", "value": *p.Prefix}
			default:
				hm["path"] = map[string]any{"type": "RegularExpression", "value": *p.Regex}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
			v := m.Headers[k]
			hm["headers"] = append(asSlice(hm["headers"]), httpMatch(k, &v))
		}
		matches = append(matches, hm)
	}
	return kubepatch.PutManaged(ctx, r.c, route, rulesField, map[string]any{
		"name":        mr.Name,
		"matches":     matches,
		"backendRefs": rule["backendRefs"],
		"filters":     []any{map[string]any{"type": "RequestMirror", "requestMirror": mirror}},
	}, "-")
}

func (r *Router) supportsMirrorPercent(ctx context.Context) bool {
	r.mirrorOnce.Do(func() {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := r.c.Get(ctx, client.ObjectKey{Name: "httproutes.gateway.networking.k8s.io"}, crd); err != nil {
			return
		}
		for _, v := range crd.Spec.Versions {
			if v.Name != "v1" || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			s := v.Schema.OpenAPIV3Schema
			for _, f := range []string{"spec", "rules", "filters", "requestMirror"} {
				next, ok := s.Properties[f]
				if !ok {
					return
				}
				if next.Items != nil && next.Items.Schema != nil {
					next = *next.Items.Schema
				}
				s = &next
			}
			_, r.mirrorPercent = s.Properties["percent"]
		}
	})
	return r.mirrorPercent
}

// ensureExternal creates or updates the Service and the manually managed
// EndpointSlice of an external host.
func (r *Router) ensureExternal(ctx context.Context, ext ExternalHost) error {
	labels := map[string]string{"app.kubernetes.io/managed-by": "cutover"}
	port := corev1.ServicePort{Name: "http", Port: ext.Port, Protocol: corev1.ProtocolTCP}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: ext.Service, Namespace: r.cfg.Namespace}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.c, svc, func() error {
		svc.Labels, svc.OwnerReferences = labels, r.cfg.Owners
		svc.Spec.Ports = []corev1.ServicePort{port}
		svc.Spec.Selector = nil // endpoints come from our EndpointSlice
		return nil
	}); err != nil {
		return fmt.Errorf("Service %s/%s for %s: %w", r.cfg.Namespace, ext.Service, ext.Host, err)
	}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: ext.Service + "-external", Namespace: r.cfg.Namespace}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.c, slice, func() error {
		slice.Labels = map[string]string{
			"app.kubernetes.io/managed-by": "cutover",
			discoveryv1.LabelServiceName:   ext.Service,
			discoveryv1.LabelManagedBy:     "cutover.dev",
		}
		slice.OwnerReferences = r.cfg.Owners
		slice.AddressType = discoveryv1.AddressTypeFQDN
		ready := true
		slice.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{ext.Host}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}}
		name, proto := port.Name, port.Protocol
		slice.Ports = []discoveryv1.EndpointPort{{Name: &name, Port: &ext.Port, Protocol: &proto}}
		return nil
	}); err != nil {
		return fmt.Errorf("EndpointSlice %s/%s for %s: %w", r.cfg.Namespace, slice.Name, ext.Host, err)
	}
	return nil
}

// RemoveManagedRoutes implements traffic.Router.
func (r *Router) RemoveManagedRoutes(ctx context.Context, keep ...string) error {
	route, err := r.get(ctx)
	if err != nil {
		return err
	}
	return kubepatch.RemoveManaged(ctx, r.c, route, rulesField, kubepatch.ManagedRoutesExcept(route, keep)...)
}

var _ traffic.Router = (*Router)(nil)
