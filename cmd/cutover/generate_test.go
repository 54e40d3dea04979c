package main_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// run runs the binary in dir and returns its combined output and exit code.
func run(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// TestGenerateCheckOnTheSample is the CI check of the sample repository
// (its immutable-check): the checked-in tree is what the config generates.
func TestGenerateCheckOnTheSample(t *testing.T) {
	out, code := run(t, "../../examples/manifests", "generate", "--check")
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("generate --check on examples/manifests: exit %d\n%s", code, out)
	}
}

// TestNewServiceGenerateEditCheck walks a newcomer's path: scaffold a
// service, generate, hand-edit a generated file, see --check catch it,
// change the config, see --diff report the new totals, remove a service and
// see its files go.
func TestNewServiceGenerateEditCheck(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"new", "service", "web", "--template", "node-bff"},
		{"new", "service", "account", "--template", "rails"},
	} {
		if out, code := run(t, dir, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, out)
		}
	}
	if out, code := run(t, dir, "new", "service", "web"); code == 0 || !strings.Contains(out, "config/web.yaml already exists") {
		t.Errorf("scaffolding over an existing service: exit %d\n%s", code, out)
	}
	if out, code := run(t, dir, "new", "service", "Bad_Name"); code == 0 || !strings.Contains(out, `service name "Bad_Name"`) {
		t.Errorf("scaffolding a bad name: exit %d\n%s", code, out)
	}

	out, code := run(t, dir, "generate")
	if code != 0 {
		t.Fatalf("generate: exit %d\n%s", code, out)
	}
	deployment := filepath.Join(dir, "overlays/development/web/deployment-web.yaml")
	if _, err := os.Stat(deployment); err != nil {
		t.Fatalf("generate wrote no %s:\n%s", deployment, out)
	}
	if out, code := run(t, dir, "generate", "--check"); code != 0 {
		t.Fatalf("--check right after generate: exit %d\n%s", code, out)
	}

	// A hand edit is drift.
	data, _ := os.ReadFile(deployment)
	if err := os.WriteFile(deployment, append(data, "# edited by hand\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = run(t, dir, "generate", "--check")
	if code != 1 || !strings.Contains(out, "modify overlays/development/web/deployment-web.yaml") {
		t.Errorf("--check after a hand edit: exit %d\n%s", code, out)
	}

	// A config change: more replicas in production → --diff reports it.
	cfgFile := filepath.Join(dir, "config/web.yaml")
	cfg, _ := os.ReadFile(cfgFile)
	edited := strings.Replace(string(cfg), "autoscaling: {minReplicas: 3, maxReplicas: 10", "autoscaling: {minReplicas: 5, maxReplicas: 10", 1)
	if edited == string(cfg) {
		t.Fatal("the scaffold changed; update the test's edit")
	}
	if err := os.WriteFile(cfgFile, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = run(t, dir, "generate", "--diff")
	// web: 250m + 100m sidecar per pod; 2 more pods at the minimum.
	if code != 0 || !strings.Contains(out, "production worker: CPU 2.10–7.00 → 2.80–7.00 cores") {
		t.Errorf("generate --diff: exit %d\n%s", code, out)
	}
	if out, code := run(t, dir, "generate", "--check"); code != 0 {
		t.Errorf("--check after generating again: exit %d\n%s", code, out)
	}

	// A removed service's generated files are removed; other files stay.
	keep := filepath.Join(dir, "overlays/development/account/NOTES.md")
	if err := os.WriteFile(keep, []byte("not generated\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "config/account.yaml")); err != nil {
		t.Fatal(err)
	}
	out, code = run(t, dir, "generate")
	if code != 0 || !strings.Contains(out, "remove overlays/production/account/rollout-account.yaml") {
		t.Errorf("generate after removing a service: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a file the generator did not write was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "argocd/production/apps/account.yaml")); !os.IsNotExist(err) {
		t.Errorf("the removed service's Argo CD application is still there: %v", err)
	}
}

// TestGenerateRefusesBadConfigAndWritesNothing: a bad config is reported
// with file:line and nothing on disk changes.
func TestGenerateRefusesBadConfigAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	if out, code := run(t, dir, "new", "service", "web"); code != 0 {
		t.Fatal(out)
	}
	if out, code := run(t, dir, "generate"); code != 0 {
		t.Fatal(out)
	}
	cfgFile := filepath.Join(dir, "config/web.yaml")
	cfg, _ := os.ReadFile(cfgFile)
	bad := strings.Replace(string(cfg), "  replicas: 2", "  replicas: 0", 1)
	if err := os.WriteFile(cfgFile, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "overlays/development/web/deployment-web.yaml"))
	out, code := run(t, dir, "generate")
	if code != 1 || !regexpMatch(`config/web\.yaml:\d+:\d+: development\.replicas: must be at least 1`, out) || !strings.Contains(out, "nothing written") {
		t.Errorf("generate with replicas 0: exit %d\n%s", code, out)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "overlays/development/web/deployment-web.yaml"))
	if string(before) != string(after) {
		t.Error("a refused config changed the generated tree")
	}
}

// The release step: a real git repository with two commits of a generated
// tree; the notes list per environment the services whose image or
// requests changed, and nothing else.
func TestReleaseNotesBetweenTwoCommits(t *testing.T) {
	repo := t.TempDir()
	tree := filepath.Join(repo, "infra")
	gitRun := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	gitRun("init", "-q")
	os.MkdirAll(filepath.Join(tree, "config"), 0o755)
	entries, _ := os.ReadDir("../../examples/manifests/config")
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join("../../examples/manifests/config", e.Name()))
		os.WriteFile(filepath.Join(tree, "config", e.Name()), data, 0o644)
	}
	generate := func() {
		t.Helper()
		if out, code := run(t, tree, "generate"); code != 0 {
			t.Fatalf("generate: exit %d\n%s", code, out)
		}
	}
	generate()
	gitRun("add", "-A")
	gitRun("commit", "-q", "-m", "first")
	gitRun("tag", "v1")
	edit := func(file, old, new string) {
		t.Helper()
		p := filepath.Join(tree, "config", file)
		data, _ := os.ReadFile(p)
		if !strings.Contains(string(data), old) {
			t.Fatalf("%s has no %q", file, old)
		}
		os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644)
	}
	edit("web.yaml", "version: 2.3.2", "version: 2.4.0")
	edit("account.yaml", "    replicas: 4\n", "    replicas: 6\n")
	generate()
	gitRun("add", "-A")
	gitRun("commit", "-q", "-m", "second")

	out, code := run(t, tree, "release", "notes", "--from", "v1", "--to", "HEAD")
	if code != 0 {
		t.Fatalf("release notes: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"# Release notes: v1 → HEAD",
		"## production",
		// 6–20 pods of 250m and 256Mi; the upload Job's image moves too.
		"| web | registry.example.com/frontend/web-upload:2.3.2 → 2.4.0, registry.example.com/frontend/web:2.3.2 → 2.4.0 | 1.50–5.00 | 1.50–5.00 | 6–20 |",
		// 1 CPU and 1Gi for Rails, 100m and 64Mi for its nginx, per pod.
		"| account | unchanged | 4.40 → 6.60 | 4.25 → 6.38 | 4 → 6 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("notes lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "## development") || strings.Contains(out, "ingressgateway") {
		t.Errorf("notes list what did not change:\n%s", out)
	}
	if out, code := run(t, tree, "release", "notes", "--from", "v0", "--to", "HEAD"); code == 0 || !strings.Contains(out, "--from v0") {
		t.Errorf("an unknown ref: exit %d\n%s", code, out)
	}
}

// cutover capacity on the sample's web service: §15's table from its
// config and a measurement, and files that load as they are.
func TestCapacityFromTheSampleConfig(t *testing.T) {
	dir := t.TempDir()
	out, code := run(t, "../../examples/manifests", "capacity", "--service", "web", "--env", "production",
		"--measured", "0.75+0.15@250", "--pod-limit", "400", "--cluster-cpu", "24", "--downstream-rps", "5000", "--write", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// 80 % of 1.5 cores of limits at 0.0036 cores per rps: 333.3 rps a
	// pod; 6 replicas (the HPA's minimum) serve 2000 before scaling out.
	for _, want := range []string{"| HPA trigger rps per pod |", "333.3 rps", "| rps without scale-out | replicas 6 × 333.3 | 2000.0 rps |", "| global rate limit | min(2000.0, downstream 5000) | 2000 rps |"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "web-production-ratelimit.yaml"))
	if err != nil || !strings.Contains(string(data), "requests_per_unit: 2000") {
		t.Fatalf("rate-limit file: %v\n%s", err, data)
	}
	if out, code := run(t, "../../examples/manifests", "capacity", "--service", "web", "--measured", "x@1", "--cluster-cpu", "24"); code == 0 || !strings.Contains(out, "--measured") {
		t.Errorf("a bad measurement: exit %d\n%s", code, out)
	}
	if out, code := run(t, "../../examples/manifests", "capacity", "--service", "web", "--measured", "0.5@100", "--cluster-cpu", "-1"); code == 0 || !strings.Contains(out, "cluster cpu: -1 is not above 0") {
		t.Errorf("a negative cluster: exit %d\n%s", code, out)
	}
}

// --update-config sets the environment's autoscaling in the service's
// config itself, keeps its comments, and the tree still generates.
func TestCapacityUpdatesTheConfig(t *testing.T) {
	tree := t.TempDir()
	os.MkdirAll(filepath.Join(tree, "config"), 0o755)
	entries, _ := os.ReadDir("../../examples/manifests/config")
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join("../../examples/manifests/config", e.Name()))
		os.WriteFile(filepath.Join(tree, "config", e.Name()), data, 0o644)
	}
	out, code := run(t, tree, "capacity", "--service", "web", "--env", "production", "--measured", "0.75+0.15@250", "--cluster-cpu", "24", "--update-config")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	data, _ := os.ReadFile(filepath.Join(tree, "config", "web.yaml"))
	if !strings.Contains(string(data), "autoscaling: {minReplicas: 6, maxReplicas: 218, targetCPUUtilization: 80} # from cutover capacity") {
		t.Errorf("web.yaml:\n%s", data)
	}
	if !strings.Contains(string(data), "# Merged with every other service's into the gateway's one domain") {
		t.Errorf("the config's comments are gone:\n%s", data)
	}
	if out, code := run(t, tree, "generate"); code != 0 {
		t.Fatalf("generate after the update: exit %d\n%s", code, out)
	}
	hpa, err := os.ReadFile(filepath.Join(tree, "overlays", "production", "web", "horizontalpodautoscaler-web.yaml"))
	if err != nil || !strings.Contains(string(hpa), "maxReplicas: 218") {
		t.Errorf("the generated HPA: %v\n%s", err, hpa)
	}
}
