package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The Kubernetes side of cutover (the manifest generator, the controller,
// plan commands on Cutover resources) is the cutover-kube binary, so that
// the Kubernetes libraries stay out of this one and `go run ./cmd/cutover
// demo` builds in about a minute on a fresh machine. These commands hand
// over to it the way kubectl runs its plugins.

const kubeBinary = "cutover-kube"

// kubeCommands hand over to cutover-kube with all their arguments.
func kubeCommands() []*cobra.Command {
	var out []*cobra.Command
	for _, c := range []struct{ use, short string }{
		{"controller [flags]", "Run Cutover resources on Kubernetes with Istio or the Gateway API"},
		{"generate [-c config] [-o dir]", "Generate Kubernetes manifests, Argo CD applications and a resource report from config/"},
		{"new service NAME --template node-bff", "Scaffold a service config for cutover generate"},
		{"release notes --from REF --to REF", "List the image and resource changes between two refs of the generated tree"},
		{"capacity --service NAME --measured APP+SIDECAR@RPS --cluster-cpu CORES", "Size a service from a load test with the handbook's §15 formulas"},
	} {
		name := strings.Fields(c.use)[0]
		out = append(out, &cobra.Command{
			Use:                c.use,
			Short:              c.short + " (runs cutover-kube " + name + ")",
			DisableFlagParsing: true,
			RunE: func(cmd *cobra.Command, args []string) error {
				return execKube(append([]string{name}, args...))
			},
		})
	}
	return out
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
