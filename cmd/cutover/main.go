// Command cutover moves live web traffic from an old place to a new one,
// step by step, without a failed request.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// globals are the flags every subcommand shares.
type globals struct {
	logFormat string
	logLevel  string
	stateDir  string
	admin     string
	token     string
	// With any of these, plan commands act on Cutover resources through
	// cutover-kube.
	kubeconfig, kubeContext, kubeNamespace string
}

func main() {
	if err := newRootCmd().Execute(); err != nil {
		var exit exitError
		if e, ok := err.(exitError); ok {
			exit = e
		} else {
			fmt.Fprintln(os.Stderr, "error:", err)
			exit = 1
		}
		os.Exit(int(exit))
	}
}

// exitError ends the program with a status and no further message; the
// command has already said what went wrong.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "cutover",
		Short:         "Move live traffic from an old place to a new one, step by step, without a failed request",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&g.stateDir, "state", envOr("CUTOVER_STATE", ".cutover"), "state directory (runtime weights, audit log, admin token) [$CUTOVER_STATE]")
	pf.StringVar(&g.admin, "admin", envOr("CUTOVER_ADMIN", "http://127.0.0.1:9190"), "admin API of a running gateway [$CUTOVER_ADMIN]")
	pf.StringVar(&g.token, "token", os.Getenv("CUTOVER_TOKEN"), "admin token; read from STATE/admin.token when empty [$CUTOVER_TOKEN]")
	pf.StringVar(&g.kubeconfig, "kubeconfig", "", "act on Cutover resources in a cluster instead of a gateway's admin API (runs cutover-kube)")
	pf.StringVar(&g.kubeContext, "context", "", "kubeconfig context; implies the cluster, like --kubeconfig")
	pf.StringVar(&g.kubeNamespace, "namespace", "", "namespace of the Cutover, with --kubeconfig or --context")
	root.AddCommand(
		newServeCmd(g),
		newDemoCmd(g),
		newValidateCmd(g),
		newConvertCmd(),
		newStatusCmd(g),
		newWeightCmd(g),
		newReloadCmd(g),
		newEventsCmd(g),
		newDiffsCmd(g),
		newRateLimitCmd(g),
		newLoadCmd(),
	)
	root.AddCommand(kubeCommands()...)
	root.AddCommand(rolloutCommands(g)...)
	return root
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func (g *globals) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", g.logFormat)
}
