package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cutover-dev/cutover/internal/testenv"
)

// Argo's own blue-green example, converted and validated as a user would:
// warnings for its pod fields, refused with --strict.
func TestConvertArgoThenValidate(t *testing.T) {
	argo := filepath.Join(testenv.ModuleDir(t, "github.com/argoproj/argo-rollouts@v1.9.0"), "examples", "rollout-bluegreen.yaml")
	dir := t.TempDir()
	out, code := run(t, dir, "convert", "argo", "-f", argo, "-o", "cutover.yaml")
	if code != 0 {
		t.Fatalf("convert: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cutover.yaml")); !strings.Contains(string(b), "blueGreen:") || !strings.Contains(string(b), "route: rollout-bluegreen") {
		t.Fatalf("converted:\n%s", b)
	}
	out, code = run(t, dir, "validate", "-f", "cutover.yaml")
	if code != 0 || !strings.Contains(out, "cutover.yaml: ok") || !strings.Contains(out, "warning: cutover.yaml:") || !strings.Contains(out, "spec.replicas: ignored") {
		t.Fatalf("validate: exit %d\n%s", code, out)
	}
	out, code = run(t, dir, "validate", "-f", "cutover.yaml", "--strict")
	if code != 1 || !strings.Contains(out, "4 field(s) without effect here (--strict)") {
		t.Fatalf("validate --strict: exit %d\n%s", code, out)
	}
}
