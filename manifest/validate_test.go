package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cutover-dev/cutover/manifest/argo"
	"github.com/cutover-dev/cutover/manifest/templates"
)

// A service that generates cleanly; each case below breaks one rule.
const goodService = `template: node-bff
image: registry.example.com/web
hosts: [www]
paths: [/]
defaults:
  replicas: 2
  resources:
    requests: {cpu: 250m, memory: 256Mi}
    limits: {cpu: 500m, memory: 512Mi}
environments:
  production:
    version: 1.2.0
`

func writeConfig(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestGoodServiceGenerates(t *testing.T) {
	tree, err := Generate(writeConfig(t, map[string]string{"web.yaml": goodService}))
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Resources) != 3 { // Deployment, Service, VirtualService
		t.Errorf("%d objects; want 3", len(tree.Resources))
	}
}

// TestValidationRules checks every rule with a config that breaks it and the
// exact message, which names the file, line, column, environment and field.
func TestValidationRules(t *testing.T) {
	cases := []struct {
		name    string
		replace [2]string // in goodService
		want    string    // with the temp dir's config/ path left out
	}{
		{"replicas at least 1", [2]string{"    version: 1.2.0\n", "    version: 1.2.0\n    replicas: 0\n"},
			"web.yaml:13:5: production.replicas: must be at least 1"},
		{"replicas from defaults", [2]string{"  replicas: 2\n", "  replicas: -1\n"},
			"web.yaml:6:3: production.replicas: must be at least 1"},
		{"requests at most limits", [2]string{"requests: {cpu: 250m", "requests: {cpu: 750m"},
			"web.yaml:8:16: production.resources.requests.cpu: 750m is more than the limit 500m"},
		{"requests at least the floor", [2]string{"memory: 256Mi}", "memory: 1Mi}"},
			"web.yaml:8:27: production.resources.requests.memory: 1Mi is less than the floor 32Mi set in the definitions"},
		{"quantity syntax", [2]string{"limits: {cpu: 500m", "limits: {cpu: lots"},
			"web.yaml:9:14: production.resources.limits.cpu: \"lots\" is not a quantity such as 250m or 512Mi"},
		{"name is DNS-1123", [2]string{"template: node-bff\n", "name: Web_Front\ntemplate: node-bff\n"},
			"web.yaml:1:1: name: \"Web_Front\" is not a valid name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"},
		{"name at most 63", [2]string{"template: node-bff\n", "name: " + strings.Repeat("a", 64) + "\ntemplate: node-bff\n"},
			"web.yaml:1:1: name: \"" + strings.Repeat("a", 64) + "\" is not a valid name: must be no more than 63 characters"},
		{"derived names at most 63", [2]string{"template: node-bff\n", "name: " + strings.Repeat("a", 60) + "\ntemplate: node-bff\n"},
			"web.yaml:12:3: production: Deployment/frontend/" + strings.Repeat("a", 60) + ": metadata.labels: label app.kubernetes.io/instance value \"" + strings.Repeat("a", 60) + "-production\": must be no more than 63 bytes"},
		{"label values", [2]string{"version: 1.2.0", "version: 1.2.0+build/7"},
			"web.yaml:12:5: production.version: \"1.2.0+build/7\" cannot be a label value: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"},
		{"unknown template", [2]string{"template: node-bff", "template: node"},
			"web.yaml:1:1: template: unknown template \"node\"; one of ingress-gateway, node-bff, rails, static-upload-job"},
		{"unknown environment", [2]string{"  production:\n", "  prod:\n"},
			"web.yaml:11:3: environments.prod: unknown environment \"prod\"; the definitions have development, production, staging"},
		{"unknown field", [2]string{"    version: 1.2.0\n", "    version: 1.2.0\n    replica: 3\n"},
			"web.yaml:13:5: environments.production.replica: unknown field \"replica\""},
		{"HPA bounds", [2]string{"    version: 1.2.0\n", "    version: 1.2.0\n    autoscaling: {minReplicas: 4, maxReplicas: 2, targetCPUUtilization: 80}\n"},
			"web.yaml:13:35: production.autoscaling.maxReplicas: must be at least minReplicas (4)"},
		{"rollout weights", [2]string{"    version: 1.2.0\n", "    version: 1.2.0\n    rollout:\n      steps: [{setWeight: 120}]\n"},
			"web.yaml:14:16: production.rollout.steps[0].setWeight: must be between 0 and 100"},
		{"migration via istio with a rollout", [2]string{"    version: 1.2.0\n", "    version: 1.2.0\n    rollout: {steps: [{setWeight: 10}]}\n    migration: {via: istio, legacy: [old.example.com:80], steps: [{setWeight: 10}]}\n"},
			"web.yaml:14:17: production.migration.via: istio: the Argo Rollout already sets the weights of this VirtualService route; migrate first, then add rollout steps"},
		{"migration endpoints", [2]string{"    version: 1.2.0\n", "    version: 1.2.0\n    migration: {legacy: [old-host]}\n"},
			"web.yaml:13:26: production.migration.legacy[0]: \"old-host\" is not host:port"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(goodService, c.replace[0]) {
				t.Fatalf("%q is not in the good service", c.replace[0])
			}
			cfg := strings.Replace(goodService, c.replace[0], c.replace[1], 1)
			dir := writeConfig(t, map[string]string{"web.yaml": cfg})
			_, err := Generate(dir)
			if err == nil {
				t.Fatalf("generated; want %q", c.want)
			}
			got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			found := false
			for _, line := range strings.Split(got, "\n") {
				if strings.HasPrefix(line, c.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("errors:\n%s\nwant a line starting %q", got, c.want)
			}
		})
	}
}

// TestCrossObjectRules needs objects no built-in template makes: a team's
// template whose Service targets a port its pods lack, whose Service
// selects nothing, whose HPA scales a missing workload.
func TestCrossObjectRules(t *testing.T) {
	templates.Register(&templates.Template{
		Name: "broken-for-test", Component: "test", Port: 8080,
		Render: func(in *templates.Input) ([]templates.Object, error) {
			pod := templates.PodTemplate(in, "worker", templates.AppContainer(in))
			workload := templates.Workload(in, pod)
			svcs := templates.Services(in, corev1.ServiceTypeClusterIP)
			wrongPort := svcs[0].(*corev1.Service)
			wrongPort.Spec.Ports[0].TargetPort = intstr.FromString("metrics")
			lonely := templates.Services(in, corev1.ServiceTypeClusterIP)[0].(*corev1.Service)
			lonely.Name = in.Name() + "-lonely"
			lonely.Spec.Selector = map[string]string{"app.kubernetes.io/name": "nobody"}
			hpa := templates.HPA(in, workload)
			hpa.Spec.ScaleTargetRef.Name = "elsewhere"
			return []templates.Object{workload, wrongPort, lonely, hpa}, nil
		},
	})
	cfg := strings.Replace(goodService, "template: node-bff", "template: broken-for-test", 1)
	cfg = strings.Replace(cfg, "    version: 1.2.0\n", "    version: 1.2.0\n    autoscaling: {minReplicas: 2, maxReplicas: 4, targetCPUUtilization: 80}\n", 1)
	dir := writeConfig(t, map[string]string{"web.yaml": cfg})
	_, err := Generate(dir)
	if err == nil {
		t.Fatal("generated")
	}
	got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
	for _, want := range []string{
		"web.yaml:11:3: production: Service/frontend/web: targetPort metrics is not a port of the pods it selects",
		"web.yaml:11:3: production: Service/frontend/web-lonely: selects no pods",
		"web.yaml:11:3: production: HorizontalPodAutoscaler/frontend/web: scale target Deployment/elsewhere is not generated",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors:\n%s\nwant %q", got, want)
		}
	}
}

func TestDuplicateObjectsAcrossServices(t *testing.T) {
	other := strings.Replace(goodService, "template: node-bff\n", "name: web\ntemplate: node-bff\n", 1)
	dir := writeConfig(t, map[string]string{"web.yaml": goodService, "web-copy.yaml": other})
	_, err := Generate(dir)
	if err == nil {
		t.Fatal("generated")
	}
	got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
	want := "web.yaml:11:3: production: Deployment/frontend/web: also generated by web-copy.yaml; names must be unique per kind and namespace"
	if !strings.Contains(got, want) {
		t.Errorf("errors:\n%s\nwant %q", got, want)
	}
}

// rolloutWithTypo is what a hand-written type for a custom resource can get
// wrong and still compile.
type rolloutWithTypo struct {
	argo.Rollout
	Spec map[string]any `json:"spec"`
}

func TestSchemaValidationCatchesWhatTypesAllow(t *testing.T) {
	templates.Register(&templates.Template{
		Name: "schema-break-for-test", Component: "test", Port: 8080,
		Render: func(in *templates.Input) ([]templates.Object, error) {
			pod := templates.PodTemplate(in, "worker", templates.AppContainer(in))
			r := &rolloutWithTypo{Spec: map[string]any{"template": pod, "stratgy": "canary"}}
			r.TypeMeta = metav1.TypeMeta{APIVersion: argo.GroupVersion, Kind: "Rollout"}
			r.ObjectMeta = in.Meta(in.Name())
			// A destination without a host: allowed by the proto types.
			vs := templates.VirtualService(in)
			vs.Spec.Http[0].Route[0].Destination.Host = ""
			vs.Spec.Http[0].Route[0].Destination = nil
			return []templates.Object{r, vs}, nil
		},
	})
	cfg := strings.Replace(goodService, "template: node-bff", "template: schema-break-for-test", 1)
	_, err := Generate(writeConfig(t, map[string]string{"web.yaml": cfg}))
	if err == nil {
		t.Fatal("generated")
	}
	for _, want := range []string{
		"Rollout/frontend/web: schema of argoproj.io/v1alpha1 Rollout: spec.stratgy in body is a forbidden property",
		"VirtualService/frontend/web: schema of networking.istio.io/v1 VirtualService: spec.http[0].route[0].destination in body is required",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors:\n%v\nwant %q", err, want)
		}
	}
}

func TestStaticUploadJobTemplate(t *testing.T) {
	cfg := `template: static-upload-job
image: registry.example.com/static-upload
defaults:
  resources:
    requests: {cpu: 100m, memory: 128Mi}
    limits: {cpu: 200m, memory: 256Mi}
  upload: {bucket: static, region: ap-northeast-1, package: "@example/assets", packageDistDir: dist, destination: web}
environments:
  production: {version: 1.4.0}
`
	tree, err := Generate(writeConfig(t, map[string]string{"assets.yaml": cfg}))
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Resources) != 1 || tree.Resources[0].Key() != "Job/frontend/assets-v1-4-0" {
		t.Fatalf("objects: %d, first %s; want the one Job", len(tree.Resources), tree.Resources[0].Key())
	}
	doc := tree.Resources[0].Doc
	if w := dig(doc, "metadata", "annotations", "argocd.argoproj.io/sync-wave"); w != "-1" {
		t.Errorf("sync-wave %v", w)
	}
	if s := dig(doc, "spec", "template", "metadata", "annotations", "sidecar.istio.io/inject"); s != "false" {
		t.Errorf("sidecar injection %v", s)
	}
	// Without upload settings the template says what it needs.
	_, err = Generate(writeConfig(t, map[string]string{"assets.yaml": strings.Replace(cfg, "  upload:", "  #upload:", 1)}))
	if err == nil || !strings.Contains(err.Error(), "production.upload: the static-upload-job template needs upload") {
		t.Errorf("err = %v", err)
	}
}
