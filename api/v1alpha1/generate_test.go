package v1alpha1

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedFilesAreUpToDate runs controller-gen as go generate does,
// into a scratch directory, and compares: the CRD in deploy/crd and the
// deepcopy functions follow the Go types.
func TestGeneratedFilesAreUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs controller-gen")
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "run", "sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0",
		"crd:crdVersions=v1", "paths=.", "output:crd:dir="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen: %v\n%s", err, out)
	}
	for _, f := range []string{"cutover.dev_cutovers.yaml"} {
		fresh, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		have, err := os.ReadFile(filepath.Join("..", "..", "deploy", "crd", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, have) {
			t.Errorf("deploy/crd/%s is not what controller-gen writes from the types; run go generate ./api/...", f)
		}
	}
	before, _ := os.ReadFile("zz_generated.deepcopy.go")
	cmd = exec.Command("go", "run", "sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0", "object", "paths=.", "output:object:dir="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen object: %v\n%s", err, out)
	}
	fresh, _ := os.ReadFile(filepath.Join(dir, "zz_generated.deepcopy.go"))
	if !bytes.Equal(before, fresh) {
		t.Error("zz_generated.deepcopy.go is stale; run go generate ./api/...")
	}
}
