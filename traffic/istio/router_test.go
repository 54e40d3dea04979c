package istio

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cutover-dev/cutover/internal/kubetest"
	"github.com/cutover-dev/cutover/spec"
)

const virtualService = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web
  namespace: shop
spec:
  hosts: [www.example.com]
  gateways: [shop/ingressgateway]
  http:
  - name: admin
    match: [{uri: {prefix: /admin}}]
    timeout: 3s
    retries: {attempts: 2, perTryTimeout: 1s}
    headers: {request: {set: {x-team: ops}}}
    route: [{destination: {host: admin.shop.svc.cluster.local, port: {number: 80}}}]
  - name: primary
    match: [{uri: {prefix: /}}]
    route:
    - destination: {host: web-stable, port: {number: 80}}
      weight: 100
    - destination: {host: web-canary, port: {number: 80}}
      weight: 0
  - name: fallback
    route: [{destination: {host: legacy.example.com}, weight: 100}]
`

func setup(t *testing.T) (context.Context, client.Client) {
	t.Helper()
	cfg := kubetest.Start(t, kubetest.IstioCRDs(t, kubetest.GoModVersion(t, "istio.io/api")))
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	return ctx, c
}

func create(t *testing.T, ctx context.Context, c client.Client, doc string) {
	t.Helper()
	kubetest.Create(t, ctx, c, doc)
}

func fetch(t *testing.T, ctx context.Context, c client.Client) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(virtualServiceGVK)
	if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, u); err != nil {
		t.Fatal(err)
	}
	return u
}

// routeJSON is each HTTP route of the VirtualService as the API server
// stores it, by name.
func routeJSON(t *testing.T, vs *unstructured.Unstructured) (names []string, byName map[string]string) {
	t.Helper()
	byName = map[string]string{}
	for _, r := range httpRoutes(vs) {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		name := r.(map[string]any)["name"].(string)
		names = append(names, name)
		byName[name] = string(data)
	}
	return names, byName
}

func weights(t *testing.T, vs *unstructured.Unstructured, route string) (stable, canary int64) {
	t.Helper()
	for _, r := range httpRoutes(vs) {
		rm := r.(map[string]any)
		if rm["name"] != route {
			continue
		}
		for _, d := range rm["route"].([]any) {
			dm := d.(map[string]any)
			host := dm["destination"].(map[string]any)["host"]
			w, _ := dm["weight"].(int64)
			switch host {
			case "web-stable":
				stable = w
			case "web-canary":
				canary = w
			}
		}
	}
	return stable, canary
}

func TestRouterAgainstARealAPIServer(t *testing.T) {
	ctx, c := setup(t)
	create(t, ctx, c, virtualService)
	r := New(c, Config{Namespace: "shop", VirtualService: "web", Routes: []string{"primary"}, StableHost: "web-stable", CanaryHost: "web-canary"})
	_, before := routeJSON(t, fetch(t, ctx, c))

	// Weights follow; the unmanaged routes stay byte-for-byte.
	for _, w := range []int{10, 34, 67, 100, 0} {
		if err := r.SetWeight(ctx, w); err != nil {
			t.Fatalf("SetWeight(%d): %v", w, err)
		}
		vs := fetch(t, ctx, c)
		if s, cn := weights(t, vs, "primary"); s != int64(100-w) || cn != int64(w) {
			t.Errorf("after SetWeight(%d): stable %d canary %d", w, s, cn)
		}
		ok, err := r.VerifyWeight(ctx, w)
		if err != nil || ok == nil || !*ok {
			t.Errorf("VerifyWeight(%d) = %v, %v", w, ok, err)
		}
		_, after := routeJSON(t, vs)
		for _, name := range []string{"admin", "fallback"} {
			if after[name] != before[name] {
				t.Errorf("unmanaged route %s changed:\nbefore %s\nafter  %s", name, before[name], after[name])
			}
		}
	}
	if ok, _ := r.VerifyWeight(ctx, 50); ok == nil || *ok {
		t.Error("VerifyWeight(50) says yes at weight 0")
	}

	// Setting the weight it already has writes nothing.
	rv := fetch(t, ctx, c).GetResourceVersion()
	if err := r.SetWeight(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, ctx, c).GetResourceVersion(); got != rv {
		t.Errorf("an unchanged weight wrote the VirtualService (resourceVersion %s → %s)", rv, got)
	}

	// A header route goes ahead of everything and goes away again.
	exact := "always"
	header := &spec.SetHeaderRoute{Name: "canary-preview", Match: []spec.HeaderRoutingMatch{{HeaderName: "x-canary", HeaderValue: &spec.StringMatch{Exact: &exact}}}}
	if err := r.SetHeaderRoute(ctx, header); err != nil {
		t.Fatal(err)
	}
	vs := fetch(t, ctx, c)
	names, after := routeJSON(t, vs)
	if strings.Join(names, ",") != "canary-preview,admin,primary,fallback" {
		t.Errorf("routes after setHeaderRoute: %v", names)
	}
	if want := `"headers":{"x-canary":{"exact":"always"}}`; !strings.Contains(after["canary-preview"], want) || !strings.Contains(after["canary-preview"], `"host":"web-canary"`) {
		t.Errorf("header route %s; want %s to web-canary", after["canary-preview"], want)
	}
	if got := vs.GetAnnotations()["cutover.dev/managed-routes"]; got != "canary-preview" {
		t.Errorf("managed-routes annotation = %q", got)
	}
	rv = vs.GetResourceVersion()
	if err := r.SetHeaderRoute(ctx, header); err != nil { // the same again: no write
		t.Fatal(err)
	}
	if got := fetch(t, ctx, c).GetResourceVersion(); got != rv {
		t.Error("setting the same header route again wrote the VirtualService")
	}

	// A mirror route copies the primary route's destinations.
	pct := 10
	mirror := &spec.SetMirrorRoute{Name: "shadow", Percentage: &pct, Match: []spec.MirrorMatch{{Method: &spec.StringMatch{Exact: strPtr("GET")}}}}
	if err := r.SetMirrorRoute(ctx, mirror); err != nil {
		t.Fatal(err)
	}
	_, after = routeJSON(t, fetch(t, ctx, c))
	if !strings.Contains(after["shadow"], `"mirrorPercentage":{"value":10}`) || !strings.Contains(after["shadow"], `"mirror":{"host":"web-canary"`) {
		t.Errorf("mirror route: %s", after["shadow"])
	}

	// Removing all but one keeps that one, where it was.
	if err := r.RemoveManagedRoutes(ctx, "shadow"); err != nil {
		t.Fatal(err)
	}
	vs = fetch(t, ctx, c)
	if names, _ := routeJSON(t, vs); !slices.Contains(names, "shadow") || slices.Contains(names, "canary-preview") {
		t.Errorf("routes after RemoveManagedRoutes but shadow: %v", names)
	}
	if got := vs.GetAnnotations()["cutover.dev/managed-routes"]; got != "shadow" {
		t.Errorf("managed-routes annotation = %q, want shadow", got)
	}

	// Removing the plan's routes leaves exactly what was there before.
	if err := r.RemoveManagedRoutes(ctx); err != nil {
		t.Fatal(err)
	}
	vs = fetch(t, ctx, c)
	names, after = routeJSON(t, vs)
	if strings.Join(names, ",") != "admin,primary,fallback" {
		t.Errorf("routes after RemoveManagedRoutes: %v", names)
	}
	if _, ok := vs.GetAnnotations()["cutover.dev/managed-routes"]; ok {
		t.Error("the managed-routes annotation is still there")
	}
	for _, name := range []string{"admin", "primary", "fallback"} {
		if after[name] != before[name] {
			t.Errorf("route %s differs from the start:\nbefore %s\nafter  %s", name, before[name], after[name])
		}
	}

	// A route the plan did not add is not replaced.
	if err := r.SetHeaderRoute(ctx, &spec.SetHeaderRoute{Name: "admin", Match: header.Match}); err == nil || !strings.Contains(err.Error(), "did not add") {
		t.Errorf("a header route named like an unmanaged route: err = %v", err)
	}
}

func TestRouterErrorsNameWhatIsMissing(t *testing.T) {
	ctx, c := setup(t)
	r := New(c, Config{Namespace: "shop", VirtualService: "web", Routes: []string{"primary"}, StableHost: "web-stable", CanaryHost: "web-canary"})
	if err := r.SetWeight(ctx, 10); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "VirtualService shop/web") {
		t.Errorf("missing VirtualService: %v", err)
	}
	create(t, ctx, c, virtualService)
	r.cfg.Routes = []string{"primary-v2"}
	if err := r.SetWeight(ctx, 10); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `no HTTP route named "primary-v2"`) {
		t.Errorf("missing route: %v", err)
	}
	r.cfg.Routes = []string{"fallback"}
	if err := r.SetWeight(ctx, 10); err == nil || !strings.Contains(err.Error(), "needs a destination for stable (web-stable) and one for canary (web-canary)") {
		t.Errorf("route without the canary: %v", err)
	}

	// Subsets: the weight does not move to a subset that does not exist.
	create(t, ctx, c, `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec:
  host: web
  subsets: [{name: stable, labels: {version: v1}}]
`)
	create(t, ctx, c, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: shop}
spec:
  hosts: [api]
  http:
  - name: primary
    route:
    - {destination: {host: web, subset: stable}, weight: 100}
    - {destination: {host: web, subset: canary}, weight: 0}
`)
	r = New(c, Config{Namespace: "shop", VirtualService: "api", Routes: []string{"primary"},
		DestinationRule: &DestinationRule{Name: "web", StableSubset: "stable", CanarySubset: "canary"}})
	if err := r.SetWeight(ctx, 0); err != nil {
		t.Errorf("weight 0 needs only the stable subset: %v", err)
	}
	if err := r.SetWeight(ctx, 10); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `no subset "canary"`) {
		t.Errorf("missing canary subset: %v", err)
	}
}

func TestExternalHostGetsAServiceEntryFirst(t *testing.T) {
	ctx, c := setup(t)
	create(t, ctx, c, strings.ReplaceAll(virtualService, "host: web-stable", "host: legacy.example.com"))
	r := New(c, Config{Namespace: "shop", VirtualService: "web", Routes: []string{"primary"}, StableHost: "legacy.example.com", CanaryHost: "web-canary",
		External: []ExternalHost{{Host: "legacy.example.com", Port: 80}}})
	if err := r.SetWeight(ctx, 20); err != nil {
		t.Fatal(err)
	}
	se := &unstructured.Unstructured{}
	se.SetGroupVersionKind(serviceEntryGVK)
	if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "cutover-legacy-example-com"}, se); err != nil {
		t.Fatalf("no ServiceEntry for the legacy host: %v", err)
	}
	hosts, _, _ := unstructured.NestedStringSlice(se.Object, "spec", "hosts")
	if len(hosts) != 1 || hosts[0] != "legacy.example.com" {
		t.Errorf("ServiceEntry hosts = %v", hosts)
	}
	if err := r.SetWeight(ctx, 30); err != nil { // idempotent: the entry exists
		t.Fatal(err)
	}
}

func strPtr(s string) *string { return &s }
