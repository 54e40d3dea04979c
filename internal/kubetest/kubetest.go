package kubetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/cutover-dev/cutover/internal/testenv"
)

// Versions of the binaries hack/envtest-assets.sh builds.
const (
	KubernetesVersion = "1.37.2"
	EtcdVersion       = "3.6.16"
)

// AssetsDir is where kube-apiserver and etcd are, or "" when they are not
// built.
func AssetsDir() string {
	dir := os.Getenv("CUTOVER_ENVTEST_ASSETS")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(cache, "cutover", "envtest", fmt.Sprintf("k8s-%s-etcd-%s", KubernetesVersion, EtcdVersion))
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return ""
		}
	}
	return dir
}

// Start runs an API server with the CRDs in crdPaths (files or
// directories) installed, and stops it when the test ends.
func Start(t testing.TB, crdPaths ...string) *rest.Config {
	t.Helper()
	cfg, _ := StartWithKubeconfig(t, crdPaths...)
	return cfg
}

// StartWithKubeconfig is Start that also writes a kubeconfig file, for the
// binaries a test runs.
func StartWithKubeconfig(t testing.TB, crdPaths ...string) (*rest.Config, string) {
	t.Helper()
	dir := AssetsDir()
	if dir == "" {
		msg := "kube-apiserver and etcd are not built; run: bash hack/envtest-assets.sh"
		if os.Getenv("CUTOVER_CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     crdPaths,
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	file := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(file, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, file
}

// CRD files of the projects the generator and the controller work with,
// at the versions the schemas were taken from.
func IstioCRDs(t testing.TB, istioAPIVersion string) string {
	return filepath.Join(testenv.ModuleDir(t, "istio.io/api@"+istioAPIVersion), "kubernetes", "customresourcedefinitions.gen.yaml")
}

// ArgoTemplateCRDs are Argo Rollouts v1.9.0's AnalysisTemplate and
// ClusterAnalysisTemplate CRDs.
func ArgoTemplateCRDs(t testing.TB) []string {
	dir := filepath.Join(testenv.ModuleDir(t, "github.com/argoproj/argo-rollouts@v1.9.0"), "manifests", "crds")
	return []string{filepath.Join(dir, "analysis-template-crd.yaml"), filepath.Join(dir, "cluster-analysis-template-crd.yaml")}
}

// ArgoRolloutsCRD is the Rollout CRD of Argo Rollouts v1.9.0.
func ArgoRolloutsCRD(t testing.TB) string {
	return filepath.Join(testenv.ModuleDir(t, "github.com/argoproj/argo-rollouts@v1.9.0"), "manifests", "crds", "rollout-crd.yaml")
}

// ArgoCDApplicationCRD is the Application CRD of Argo CD v3.4.0.
func ArgoCDApplicationCRD(t testing.TB) string {
	return filepath.Join(testenv.ModuleDir(t, "github.com/argoproj/argo-cd/v3@v3.4.0"), "manifests", "crds", "application-crd.yaml")
}

// GoModVersion is the version of a module the project's go.mod selects.
func GoModVersion(t testing.TB, path string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", path).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}

// GatewayAPIVersion is the Gateway API release whose CRDs tests install.
const GatewayAPIVersion = "v1.6.3"

// GatewayAPICRDs is the standard channel's CRD directory.
func GatewayAPICRDs(t testing.TB) string {
	return filepath.Join(testenv.ModuleDir(t, "sigs.k8s.io/gateway-api@"+GatewayAPIVersion), "config", "crd", "standard")
}

// Create creates the object a YAML document describes.
func Create(t testing.TB, ctx context.Context, c client.Client, doc string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, u); err != nil {
		t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}
