package gatewayapi

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cutover-dev/cutover/internal/kubetest"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/traffic"
)

const httpRoute = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: shop
spec:
  parentRefs: [{name: public}]
  hostnames: [www.example.com]
  rules:
  - name: admin
    matches: [{path: {type: PathPrefix, value: /admin}}]
    backendRefs: [{name: admin, port: 80}]
    timeouts: {request: 3s}
  - name: primary
    matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs:
    - {name: web-stable, port: 80, weight: 100}
    - {name: web-canary, port: 80, weight: 0}
`

func setup(t *testing.T) (context.Context, client.Client) {
	t.Helper()
	cfg := kubetest.Start(t, filepath.Join(kubetest.GatewayAPICRDs(t), "gateway.networking.k8s.io_httproutes.yaml"))
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = apiextensionsv1.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	kubetest.Create(t, ctx, c, httpRoute)
	return ctx, c
}

func rules(t *testing.T, ctx context.Context, c client.Client) (*unstructured.Unstructured, []string, map[string]string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(httpRouteGVK)
	if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, u); err != nil {
		t.Fatal(err)
	}
	rs, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	var names []string
	byName := map[string]string{}
	for _, r := range rs {
		data, _ := json.Marshal(r)
		name, _ := r.(map[string]any)["name"].(string)
		names = append(names, name)
		byName[name] = string(data)
	}
	return u, names, byName
}

func TestRouterAgainstARealAPIServer(t *testing.T) {
	ctx, c := setup(t)
	_, _, before := rules(t, ctx, c)
	r := New(c, Config{Namespace: "shop", HTTPRoute: "web", StableService: "web-stable", CanaryService: "web-canary"})

	for _, w := range []int{10, 50, 100, 0} {
		if err := r.SetWeight(ctx, w); err != nil {
			t.Fatalf("SetWeight(%d): %v", w, err)
		}
		_, _, after := rules(t, ctx, c)
		want := `"backendRefs":[{"group":"","kind":"Service","name":"web-stable","port":80,"weight":` + itoa(100-w) + `},{"group":"","kind":"Service","name":"web-canary","port":80,"weight":` + itoa(w) + `}]`
		if !strings.Contains(after["primary"], want) {
			t.Errorf("after SetWeight(%d): %s", w, after["primary"])
		}
		if after["admin"] != before["admin"] {
			t.Errorf("the unmanaged rule changed: %s → %s", before["admin"], after["admin"])
		}
		if ok, err := r.VerifyWeight(ctx, w); err != nil || !*ok {
			t.Errorf("VerifyWeight(%d) = %v, %v", w, ok, err)
		}
	}

	exact := "always"
	if err := r.SetHeaderRoute(ctx, &spec.SetHeaderRoute{Name: "canary-preview", Match: []spec.HeaderRoutingMatch{{HeaderName: "x-canary", HeaderValue: &spec.StringMatch{Exact: &exact}}}}); err != nil {
		t.Fatal(err)
	}
	u, names, after := rules(t, ctx, c)
	if strings.Join(names, ",") != "admin,primary,canary-preview" {
		t.Errorf("rules after setHeaderRoute: %v", names)
	}
	// The path match is kept, so the header rule is the more specific one.
	for _, want := range []string{`"path":{"type":"PathPrefix","value":"/"}`, `"headers":[{"name":"x-canary","type":"Exact","value":"always"}]`, `"name":"web-canary"`} {
		if !strings.Contains(after["canary-preview"], want) {
			t.Errorf("header rule %s lacks %s", after["canary-preview"], want)
		}
	}
	if got := u.GetAnnotations()["cutover.dev/managed-routes"]; got != "canary-preview" {
		t.Errorf("managed-routes annotation = %q", got)
	}
	// With the header rule in place, weights still go to the primary rule only.
	if err := r.SetWeight(ctx, 20); err != nil {
		t.Fatal(err)
	}

	pct := 25
	if err := r.SetMirrorRoute(ctx, &spec.SetMirrorRoute{Name: "shadow", Percentage: &pct, Match: []spec.MirrorMatch{{Path: &spec.StringMatch{Prefix: strPtr("/api")}}}}); err != nil {
		t.Fatal(err)
	}
	_, _, after = rules(t, ctx, c)
	if !strings.Contains(after["shadow"], `"requestMirror":{"backendRef":{"group":"","kind":"Service","name":"web-canary","port":80},"percent":25}`) {
		t.Errorf("mirror rule: %s", after["shadow"])
	}

	if err := r.RemoveManagedRoutes(ctx); err != nil {
		t.Fatal(err)
	}
	_, names, after = rules(t, ctx, c)
	if strings.Join(names, ",") != "admin,primary" || after["admin"] != before["admin"] {
		t.Errorf("after RemoveManagedRoutes: %v\n%s", names, after["admin"])
	}

	// Errors say what is missing.
	r2 := New(c, Config{Namespace: "shop", HTTPRoute: "web", Rules: []string{"main"}, StableService: "web-stable", CanaryService: "web-canary"})
	if err := r2.SetWeight(ctx, 10); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `no rule named "main"`) {
		t.Errorf("missing rule: %v", err)
	}
	r3 := New(c, Config{Namespace: "shop", HTTPRoute: "api", StableService: "web-stable", CanaryService: "web-canary"})
	if err := r3.SetWeight(ctx, 10); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing HTTPRoute: %v", err)
	}
}

func TestMirrorPercentNeedsTheCRDField(t *testing.T) {
	ctx, c := setup(t)
	r := New(c, Config{Namespace: "shop", HTTPRoute: "web", StableService: "web-stable", CanaryService: "web-canary"})
	r.mirrorOnce.Do(func() {}) // as if the installed CRD had no percent
	pct := 10
	err := r.SetMirrorRoute(ctx, &spec.SetMirrorRoute{Name: "shadow", Percentage: &pct, Match: []spec.MirrorMatch{{}}})
	if !errors.Is(err, traffic.ErrUnsupported) {
		t.Errorf("err = %v; want ErrUnsupported", err)
	}
}

func itoa(i int) string { data, _ := json.Marshal(i); return string(data) }

func strPtr(s string) *string { return &s }
