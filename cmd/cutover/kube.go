package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The Kubernetes side of cutover (the controller, and plan commands on
// Cutover resources) is the cutover-kube binary, so that client-go and
// controller-runtime stay out of this one and `go run ./cmd/cutover demo`
// builds in about a minute on a fresh machine. These commands hand over
// to it the way kubectl runs its plugins.

const kubeBinary = "cutover-kube"

func newControllerCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "controller [flags]",
		Short:              "Run Cutover resources on Kubernetes with Istio or the Gateway API (runs cutover-kube controller)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return execKube(append([]string{"controller"}, args...))
		},
	}
}

// onCluster says whether a plan command is meant for a cluster.
func (g *globals) onCluster() bool {
	return g.kubeconfig != "" || g.kubeContext != "" || g.kubeNamespace != ""
}

// execKube replaces this process with cutover-kube, found beside this
// binary or on PATH, with the same arguments.
func execKube(args []string) error {
	path := ""
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), kubeBinary); isExecutable(p) {
			path = p
		}
	}
	if path == "" {
		p, err := exec.LookPath(kubeBinary)
		if err != nil {
			return errors.New("this needs cutover-kube, the binary that holds cutover's Kubernetes side; " +
				"install it with `go install github.com/cutover-dev/cutover/cmd/cutover-kube@latest` " +
				"(or `go build -o ~/go/bin/cutover-kube ./cmd/cutover-kube` in a checkout)")
		}
		path = p
	}
	return syscall.Exec(path, append([]string{kubeBinary}, args...), os.Environ())
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// kubeArgs rebuilds a plan command's arguments for cutover-kube: the
// command, its arguments, the flags both binaries know.
func (g *globals) kubeArgs(cmd *cobra.Command, args []string) []string {
	out := append([]string{cmd.Name()}, args...)
	for flag, v := range map[string]string{"kubeconfig": g.kubeconfig, "context": g.kubeContext, "namespace": g.kubeNamespace} {
		if v != "" {
			out = append(out, fmt.Sprintf("--%s=%s", flag, v))
		}
	}
	cmd.LocalFlags().Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "watch", "full", "force", "to-step":
			out = append(out, fmt.Sprintf("--%s=%s", f.Name, f.Value.String()))
		}
	})
	return out
}
