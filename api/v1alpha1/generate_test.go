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
	// spec's plan types are the CRD's too, and have their own deepcopy.
	for _, pkg := range []string{".", filepath.Join("..", "..", "spec")} {
		out := filepath.Join(dir, "object", filepath.Base(pkg))
		cmd = exec.Command("go", "run", "sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0", "object", "paths="+pkg, "output:object:dir="+out)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("controller-gen object paths=%s: %v\n%s", pkg, err, out)
		}
		before, err := os.ReadFile(filepath.Join(pkg, "zz_generated.deepcopy.go"))
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := os.ReadFile(filepath.Join(out, "zz_generated.deepcopy.go"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, fresh) {
			t.Errorf("%s is stale; run go generate in %s", filepath.Join(pkg, "zz_generated.deepcopy.go"), pkg)
		}
	}
}
