package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover-dev/cutover/admin/wire"
	"github.com/cutover-dev/cutover/internal/cliview"
	"github.com/cutover-dev/cutover/rollout"
)

func newGetCmd(g *globals) *cobra.Command {
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "get rollout NAME [--watch]",
		Short: "Show a plan: its steps, the current one, weights, analysis verdicts, time left in a pause",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "rollout" && args[0] != "rollouts" && args[0] != "ro" {
				return fmt.Errorf("unknown resource %q (want rollout)", args[0])
			}
			if g.onCluster() {
				return execKube(g.kubeArgs(cmd, args))
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return cliview.Follow(cmd.Context(), out, watch, watch && isTerminal(out), interval, func() (*rollout.View, error) {
				var v rollout.View
				err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/rollouts/"+args[1], nil, &v)
				return &v, err
			})
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "redraw whenever the plan changes")
	cmd.Flags().DurationVar(&interval, "interval", 500*time.Millisecond, "how often --watch looks")
	return cmd
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// newRolloutCommand is one of promote, abort, retry, pause, resume, rollback.
func newRolloutCommand(g *globals, name, short string, flags func(*cobra.Command, *wire.CommandRequest)) *cobra.Command {
	req := &wire.CommandRequest{}
	cmd := &cobra.Command{
		Use:   name + " ROLLOUT",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.onCluster() {
				return execKube(g.kubeArgs(cmd, args))
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var v rollout.View
			if err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/rollouts/"+args[0]+"/"+name, req, &v); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout %s: %s at step %d, canary %d%%", v.Name, v.State.Phase, v.State.Step, v.State.Weight)
			if v.State.Reason != "" {
				fmt.Fprintf(cmd.OutOrStdout(), " (%s)", v.State.Reason)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, for the audit log")
	if flags != nil {
		flags(cmd, req)
	}
	return cmd
}

func rolloutCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{
		newGetCmd(g),
		newRolloutCommand(g, "promote", "Skip the current step; with --full go to 100 % (refused while the canary is unhealthy or failing analysis, unless --force)",
			func(cmd *cobra.Command, req *wire.CommandRequest) {
				cmd.Flags().BoolVar(&req.Full, "full", false, "go straight to 100 % and complete")
				cmd.Flags().BoolVar(&req.Force, "force", false, "with --full: promote even if the canary is unhealthy or failing")
			}),
		newRolloutCommand(g, "abort", "Send all traffic back to stable at once and remove the plan's header routes", nil),
		newRolloutCommand(g, "retry", "Start an aborted plan again from step 0", nil),
		newRolloutCommand(g, "pause", "Hold the plan where it is (a timed pause keeps the time it has left)", nil),
		newRolloutCommand(g, "resume", "Continue a paused plan, or run an inconclusive analysis again", nil),
		newRolloutCommand(g, "rollback", "Go back to step N: weights and header routes as they were when it began",
			func(cmd *cobra.Command, req *wire.CommandRequest) {
				cmd.Flags().Var(stepFlag{req}, "to-step", "the step index to go back to")
				cmd.MarkFlagRequired("to-step")
			}),
	}
}

// stepFlag fills CommandRequest.ToStep.
type stepFlag struct{ req *wire.CommandRequest }

func (f stepFlag) String() string {
	if f.req == nil || f.req.ToStep == nil {
		return ""
	}
	return strconv.Itoa(*f.req.ToStep)
}

func (f stepFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not a step index", s)
	}
	f.req.ToStep = &n
	return nil
}

func (stepFlag) Type() string { return "int" }
