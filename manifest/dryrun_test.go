package manifest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/cutover-dev/cutover/internal/kubetest"
)

// TestRealAPIServerAcceptsEveryGeneratedObject applies every object of the
// sample tree (overlays and Argo CD applications) to a real kube-apiserver
// with the Istio, Gateway API, Argo Rollouts, Argo CD and Cutover CRDs
// installed from their modules' files, as server-side dry-run apply with strict field
// validation: unknown fields, wrong types and schema violations fail.
func TestRealAPIServerAcceptsEveryGeneratedObject(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	crds := []string{
		kubetest.IstioCRDs(t, kubetest.GoModVersion(t, "istio.io/api")),
		kubetest.ArgoRolloutsCRD(t),
		kubetest.ArgoCDApplicationCRD(t),
		filepath.Join("..", "deploy", "crd"),
	}
	for _, kind := range []string{"gateways", "httproutes", "gatewayclasses", "referencegrants"} {
		crds = append(crds, filepath.Join(kubetest.GatewayAPICRDs(t), "gateway.networking.k8s.io_"+kind+".yaml"))
	}
	cfg := kubetest.Start(t, crds...)
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c = client.WithFieldValidation(c, metav1.FieldValidationStrict)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, ns := range []string{"frontend", "argocd"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}

	var applied, rateLimitService int
	kinds := map[string]int{}
	for _, dir := range []string{"overlays", "argocd"} {
		err := filepath.WalkDir(filepath.Join(example, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || filepath.Base(p) == "kustomization.yaml" {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(data, &u.Object); err != nil {
				t.Errorf("%s: %v", p, err)
				return nil
			}
			err = c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
				client.DryRunAll, client.FieldOwner("cutover-generate"), client.ForceOwnership)
			if err != nil {
				t.Errorf("%s: the API server refused %s %s: %v", p, u.GetKind(), u.GetName(), err)
				return nil
			}
			applied++
			kinds[u.GetKind()]++
			if strings.Contains(p, "/ratelimit/") {
				rateLimitService++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("dry-run applied %d objects: %v", applied, kinds)
	if rateLimitService != 4 {
		t.Errorf("applied %d objects of the rate-limit service; want its ConfigMap, Deployment, Service and EnvoyFilter", rateLimitService)
	}
	for _, kind := range []string{"Deployment", "Rollout", "Service", "ConfigMap", "Job", "HorizontalPodAutoscaler",
		"VirtualService", "Gateway", "EnvoyFilter", "Application", "Cutover"} {
		if kinds[kind] == 0 {
			t.Errorf("the sample tree has no %s; the test would not notice it broken", kind)
		}
	}

	// The check is not vacuous: the same server refuses a field it does
	// not know.
	bad := &unstructured.Unstructured{}
	data, _ := os.ReadFile(filepath.Join(example, "overlays/production/web/rollout-web.yaml"))
	if err := yaml.Unmarshal(data, &bad.Object); err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(bad.Object, int64(3), "spec", "strategy", "canary", "maxSurges")
	err = c.Apply(ctx, client.ApplyConfigurationFromUnstructured(bad), client.DryRunAll, client.FieldOwner("cutover-generate"))
	if err == nil || !strings.Contains(err.Error(), "maxSurges") {
		t.Errorf("a Rollout with an unknown field: err = %v; want it refused", err)
	}
}
