package schema

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBundleMatchesTheModules regenerates the embedded schemas from the
// modules' own files and compares: the bundle is not edited by hand and
// follows the pinned versions.
func TestBundleMatchesTheModules(t *testing.T) {
	if testing.Short() {
		t.Skip("reads k8s.io/kubernetes from the module cache")
	}
	out := filepath.Join(t.TempDir(), "schemas.json.gz")
	cmd := exec.Command("go", "run", "gen.go", "-o", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run gen.go: %v\n%s", err, msg)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, bundle) {
		t.Error("schemas.json.gz differs from what gen.go writes; run go generate ./manifest/schema")
	}
}

func TestValidateNamesTheField(t *testing.T) {
	err := Validate(map[string]any{
		"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
		"metadata": map[string]any{"name": "web"},
		"spec": map[string]any{
			"scaleTargetRef": map[string]any{"kind": "Deployment", "name": "web"},
			"maxReplicas":    "ten",
		},
	})
	if err == nil || !strings.Contains(err.Error(), "spec.maxReplicas in body must be of type integer") {
		t.Errorf("err = %v", err)
	}
	if err := Validate(map[string]any{"apiVersion": "example.com/v1", "kind": "Widget"}); err == nil || !strings.Contains(err.Error(), "no schema for example.com/v1 Widget") {
		t.Errorf("unknown kind: err = %v", err)
	}
}
