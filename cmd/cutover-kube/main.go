// Command cutover-kube is the Kubernetes half of cutover: the manifest
// generator, the controller that runs Cutover resources, and the plan
// commands against a cluster. It is a binary of its own so that the
// Kubernetes libraries stay out of cutover's; `cutover generate`, `cutover
// controller` and `cutover get rollout --kubeconfig ...` run it.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover-dev/cutover/controller"
	"github.com/cutover-dev/cutover/internal/cliview"
	"github.com/cutover-dev/cutover/rollout"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		if e, ok := err.(exitError); ok {
			os.Exit(int(e))
		}
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// exitError ends the program with a status and no further message; the
// command has already said what went wrong.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

type kubeFlags struct {
	kubeconfig, context, namespace string
	timeout                        time.Duration
}

func (k *kubeFlags) client() (*controller.Client, error) {
	return controller.NewClient(k.kubeconfig, k.context, k.namespace)
}

func newRoot() *cobra.Command {
	k := &kubeFlags{}
	root := &cobra.Command{
		Use:           "cutover",
		Short:         "cutover on Kubernetes: the controller, and plan commands against a cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, ~/.kube/config, or in-cluster)")
	pf.StringVar(&k.context, "context", "", "kubeconfig context (default the current one)")
	pf.StringVarP(&k.namespace, "namespace", "n", "", "namespace of the Cutover (default the context's)")
	pf.DurationVar(&k.timeout, "timeout", 30*time.Second, "how long a command waits for the controller's answer")
	root.AddCommand(newControllerCmd(k), newGetCmd(k), newDashboardCmd(k), newGenerateCmd(), newNewCmd(), newReleaseCmd(), newCapacityCmd())
	for _, c := range []struct{ name, short string }{
		{"promote", "Skip the current step; with --full go to 100 %"},
		{"abort", "Send all traffic back to stable at once"},
		{"retry", "Start an aborted plan again from step 0"},
		{"pause", "Hold the plan where it is"},
		{"resume", "Continue a paused plan, or run an inconclusive analysis again"},
		{"rollback", "Go back to step N"},
	} {
		root.AddCommand(newCommandCmd(k, c.name, c.short))
	}
	return root
}

func newControllerCmd(k *kubeFlags) *cobra.Command {
	o := controller.Options{}
	var logFormat, logLevel string
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run Cutover resources: one plan engine each, Istio or the Gateway API moving the traffic",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			hopts := &slog.HandlerOptions{Level: level}
			o.Log = slog.New(slog.NewTextHandler(os.Stderr, hopts))
			if logFormat == "json" {
				o.Log = slog.New(slog.NewJSONHandler(os.Stderr, hopts))
			}
			cfg, _, err := controller.RestConfig(k.kubeconfig, k.context)
			if err != nil {
				return err
			}
			o.Namespace = k.namespace
			return controller.Run(cmd.Context(), cfg, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", `Prometheus metrics; "0" turns them off`)
	f.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "/healthz and /readyz")
	f.BoolVar(&o.LeaderElection, "leader-elect", true, "take turns with other replicas: only the leader acts")
	f.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "where the Lease lives (default the pod's namespace)")
	f.DurationVar(&o.Interval, "interval", time.Second, "how often running plans are ticked")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func newGetCmd(k *kubeFlags) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "get rollout NAME [--watch]",
		Short: "Show a Cutover's plan: steps, the current one, weights, verdicts",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "rollout" && args[0] != "rollouts" && args[0] != "ro" && args[0] != "cutover" {
				return fmt.Errorf("unknown resource %q (want rollout)", args[0])
			}
			c, err := k.client()
			if err != nil {
				return err
			}
			return cliview.Follow(cmd.Context(), cmd.OutOrStdout(), watch, false, 500*time.Millisecond, func() (*rollout.View, error) {
				return c.View(cmd.Context(), args[1])
			})
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "redraw whenever the plan changes")
	return cmd
}

func newCommandCmd(k *kubeFlags, name, short string) *cobra.Command {
	req := controller.Command{Command: name, Actor: os.Getenv("USER")}
	var toStep string
	cmd := &cobra.Command{
		Use:   name + " CUTOVER",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "rollback" {
				n, err := strconv.Atoi(toStep)
				if err != nil {
					return fmt.Errorf("--to-step: %q is not a step index", toStep)
				}
				req.ToStep = n
			}
			c, err := k.client()
			if err != nil {
				return err
			}
			v, err := c.Command(cmd.Context(), args[0], req, k.timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cutover %s: %s at step %d, canary %d%%\n", v.Name, v.State.Phase, v.State.Step, v.State.Weight)
			return nil
		},
	}
	switch name {
	case "promote":
		cmd.Flags().BoolVar(&req.Full, "full", false, "go straight to 100 % and complete")
		cmd.Flags().BoolVar(&req.Force, "force", false, "with --full: even if the canary is failing")
	case "rollback":
		cmd.Flags().StringVar(&toStep, "to-step", "", "the step index to go back to")
		cmd.MarkFlagRequired("to-step")
	}
	return cmd
}
