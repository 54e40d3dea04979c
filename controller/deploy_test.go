package controller

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/cutover-dev/cutover/api/v1alpha1"
)

// TestDeployedRBACIsEnough installs deploy/ (kustomize build, as kubectl
// apply -k) and runs the controller as its ServiceAccount: plans on Istio
// and on the Gateway API, with external hosts, go through with only the
// permissions deploy/rbac.yaml grants, and the account cannot read what it
// does not need.
func TestDeployedRBACIsEnough(t *testing.T) {
	h := newHarness(t)
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join("..", "deploy"))
	if err != nil {
		t.Fatalf("kustomize build deploy/: %v", err)
	}
	for _, r := range res.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "CustomResourceDefinition" {
			continue // installed by the harness from the same file
		}
		if err := h.c.Create(h.ctx, u); err != nil {
			t.Fatalf("creating %s %s from deploy/: %v", u.GetKind(), u.GetName(), err)
		}
	}

	sa := rest.CopyConfig(h.cfg)
	sa.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:cutover-system:cutover-controller"}
	saClient, err := client.New(sa, client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := saClient.List(h.ctx, &corev1.SecretList{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the controller's account can list Secrets (err %v); RBAC is not in force or too wide", err)
	}

	mgr, err := NewManager(sa, Options{
		MetricsAddr: "0", ProbeAddr: "0", LeaderElection: true, LeaderElectionNamespace: "cutover-system",
		LeaseDuration: 8 * time.Second, RenewDeadline: 6 * time.Second, RetryPeriod: 300 * time.Millisecond,
		Interval: 100 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), SeveralInProcess: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &controllerProcess{t: t, mgr: mgr, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(h.ctx)
	p.stop = cancel
	go func() { p.done <- mgr.Start(ctx) }()
	t.Cleanup(p.shutdown)

	external := "  stable: {externalHost: legacy.example.com, port: 8080}\n"
	h.apply(strings.ReplaceAll(virtualService, "host: web-stable", "host: legacy.example.com"))
	h.apply(strings.Replace(fmt.Sprintf(plan, "web", istioRouting), "  stable: {service: web-stable}\n", external, 1))
	h.apply(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api, namespace: shop}
spec:
  rules:
  - name: primary
    backendRefs:
    - {name: api-stable, port: 8080, weight: 100}
    - {name: web-canary, port: 80, weight: 0}
`)
	h.apply(strings.Replace(fmt.Sprintf(plan, "api", "    gatewayAPI:\n      httpRoute: {name: api}"), "  stable: {service: web-stable}\n", external, 1))
	for _, name := range []string{"web", "api"} {
		co := h.waitFor(name, "the manual pause", func(co *v1alpha1.Cutover) bool {
			return co.Status.Phase == "Paused" && co.Status.CurrentStepIndex == 4 || co.Status.Phase == "Degraded" || co.Status.Phase == PhaseInvalid
		})
		if co.Status.Phase != "Paused" {
			t.Errorf("cutover %s as the controller's account: %s: %s", name, co.Status.Phase, co.Status.Message)
		}
	}
	// The Gateway API side of the external host is a Service without a
	// selector and an EndpointSlice naming the host.
	svc := &corev1.Service{}
	if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: "shop", Name: "api-stable"}, svc); err != nil || svc.Spec.Selector != nil {
		t.Errorf("Service api-stable: %v, selector %v", err, svc.Spec.Selector)
	}
	if msg := h.command("web", "abort"); msg != "" {
		t.Errorf("abort as the controller's account: %s", msg)
	}
}
