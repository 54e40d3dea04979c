package controller

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/convert"
	"github.com/cutover-dev/cutover/internal/testenv"
	"github.com/cutover-dev/cutover/spec"
)

// Argo's own Istio Rollouts, converted with convert argo --kube, are
// Cutovers the controller takes: strict against the CRD's types, and a
// valid plan.
func TestConvertedArgoRolloutsAreCutovers(t *testing.T) {
	root := testenv.ModuleDir(t, "github.com/argoproj/argo-rollouts@v1.9.0")
	for file, want := range map[string]string{
		"test/e2e/istio/istio-host-split.yaml": "setWeight: 10",
		"examples/istio/istio-mirror.yaml":     "setMirrorRoute",
		// Subset-level splitting: both sides are the DestinationRule's host.
		"examples/istio/istio-subset-split.yaml": "destinationRule: {name: istio-subset-split-destrule, stableSubset: stable, canarySubset: canary}",
	} {
		data, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		out, notes, err := convert.ArgoKube([]spec.Source{{File: file, Data: data}})
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if !strings.Contains(string(out), want) {
			t.Fatalf("%s:\n%s", file, out)
		}
		co := &v1alpha1.Cutover{}
		if err := yaml.UnmarshalStrict(out, co); err != nil {
			t.Fatalf("%s: not a Cutover: %v\n%s", file, err, out)
		}
		if _, err := planFor(co); err != nil {
			t.Fatalf("%s: the controller refuses it: %v\n%s", file, err, out)
		}
		t.Logf("%s: %d notes", file, len(notes))
	}
}
