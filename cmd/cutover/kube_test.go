package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cutover-dev/cutover/internal/kubetest"
)

// TestCLIAgainstACluster runs `cutover controller` and the plan commands
// against a real kube-apiserver, as a user would with a kubeconfig.
func TestCLIAgainstACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	cfg, kubeconfig := kubetest.StartWithKubeconfig(t, filepath.Join("..", "..", "deploy", "crd"),
		kubetest.IstioCRDs(t, kubetest.GoModVersion(t, "istio.io/api")))
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [www.example.com]
  http:
  - name: primary
    route:
    - {destination: {host: web-stable}, weight: 100}
    - {destination: {host: web-canary}, weight: 0}
`, `apiVersion: cutover.dev/v1alpha1
kind: Cutover
metadata: {name: web, namespace: shop}
spec:
  stable: {service: web-stable}
  canary: {service: web-canary}
  strategy:
    canary:
      steps:
      - setWeight: 30
      - pause: {}
      - setWeight: 100
  trafficRouting:
    istio:
      virtualService: {name: web, routes: [primary]}
`} {
		kubetest.Create(t, ctx, c, doc)
	}

	ctrlCmd := exec.Command(binary, "controller", "--kubeconfig", kubeconfig, "--metrics-bind-address", "0",
		"--health-probe-bind-address", "0", "--leader-election-namespace", "default", "--interval", "200ms")
	logs := &lockedBuffer{}
	ctrlCmd.Stdout, ctrlCmd.Stderr = logs, logs
	if err := ctrlCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctrlCmd.Process.Signal(os.Interrupt)
		ctrlCmd.Wait()
		if t.Failed() {
			t.Logf("controller output:\n%s", logs.String())
		}
	})

	kube := []string{"--kubeconfig", kubeconfig, "--namespace", "shop"}
	getUntil := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			out, code := run(t, ".", append([]string{"get", "rollout", "web"}, kube...)...)
			if code == 0 && strings.Contains(out, want) {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("get rollout never showed %q; last (exit %d):\n%s", want, code, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	out := getUntil("Status:    Paused (step)")
	for _, want := range []string{"Weights:   canary 30%  stable 70%", "router Istio", "=>   1  pause: until promoted"} {
		if !strings.Contains(out, want) {
			t.Errorf("get rollout lacks %q:\n%s", want, out)
		}
	}
	if out, code := run(t, ".", append([]string{"promote", "web"}, kube...)...); code != 0 {
		t.Fatalf("promote: exit %d\n%s", code, out)
	}
	getUntil("Status:    Completed")
	out, code := run(t, ".", append([]string{"abort", "web"}, kube...)...)
	if code == 0 || !strings.Contains(out, "refused in phase Completed") {
		t.Errorf("abort after completion: exit %d\n%s", code, out)
	}

	// Without cutover-kube the commands say how to get it.
	lonely := filepath.Join(t.TempDir(), "cutover")
	data, _ := os.ReadFile(binary)
	if err := os.WriteFile(lonely, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(lonely, append([]string{"get", "rollout", "web"}, kube...)...)
	cmd.Env = append(os.Environ(), "PATH=/nonexistent")
	msg, _ := cmd.CombinedOutput()
	if !strings.Contains(string(msg), "go install github.com/cutover-dev/cutover/cmd/cutover-kube") {
		t.Errorf("without cutover-kube: %s", msg)
	}
}
