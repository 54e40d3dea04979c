package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover-dev/cutover/admin"
	"github.com/cutover-dev/cutover/analysis"
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
			c, err := g.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			clear := watch && isTerminal(out)
			last := ""
			for {
				var v rollout.View
				if err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/rollouts/"+args[1], nil, &v); err != nil {
					return err
				}
				frame := renderRollout(&v)
				if frame != last {
					if clear {
						fmt.Fprint(out, "\033[H\033[2J")
					} else if last != "" {
						fmt.Fprintln(out, strings.Repeat("-", 60))
					}
					fmt.Fprint(out, frame)
					last = frame
				}
				if !watch {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(interval):
				}
			}
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

// renderRollout draws a plan for a terminal, without colour.
func renderRollout(v *rollout.View) string {
	var b strings.Builder
	st := v.State
	fmt.Fprintf(&b, "Name:      %s\n", v.Name)
	fmt.Fprintf(&b, "Route:     %s  (stable %s -> canary %s, router %s)\n", v.Route, v.Stable, v.Canary, v.Router)
	status := string(st.Phase)
	if st.Phase == rollout.Paused && st.PauseKind != "" {
		status += " (" + string(st.PauseKind) + ")"
	}
	if st.Reason != "" {
		status += " - " + st.Reason
	}
	fmt.Fprintf(&b, "Status:    %s\n", status)
	fmt.Fprintf(&b, "Weights:   canary %d%%  stable %d%%\n", st.Weight, 100-st.Weight)
	if len(v.HeaderRoutes) > 0 {
		fmt.Fprintf(&b, "Header routes to canary: %s\n", strings.Join(v.HeaderRoutes, ", "))
	}
	if len(v.MirrorRoutes) > 0 {
		fmt.Fprintf(&b, "Mirrored to canary: %s\n", strings.Join(v.MirrorRoutes, ", "))
	}
	fmt.Fprintf(&b, "\nSteps (%d of %d done)\n", min(st.Step, len(v.Steps)), len(v.Steps))
	for _, s := range v.Steps {
		mark := "[ ]"
		switch s.Status {
		case "done":
			mark = "[x]"
		case "current":
			mark = "=> "
		}
		line := fmt.Sprintf("  %s %2d  %s", mark, s.Index, s.Text)
		if s.Status == "current" && st.Phase == rollout.Paused && st.PauseKind == rollout.PauseTimed {
			line += fmt.Sprintf("   (%s left)", v.PauseLeft.Round(time.Second))
		}
		b.WriteString(line + "\n")
	}
	for _, run := range []*analysis.Run{st.Analysis, st.Background} {
		if run == nil {
			continue
		}
		fmt.Fprintf(&b, "\nAnalysis %s: %s\n", run.Name, run.Phase)
		for _, m := range run.Metrics {
			fmt.Fprintf(&b, "  %-14s %-12s looks %d", m.Name, m.Phase, m.Looks)
			if n := len(m.Measurements); n > 0 {
				last := m.Measurements[n-1]
				fmt.Fprintf(&b, "  last: %s", last.Phase)
				if last.Value != "" {
					fmt.Fprintf(&b, "  %s", last.Value)
				}
				if last.Message != "" && last.Phase != analysis.Successful {
					fmt.Fprintf(&b, "  (%s)", last.Message)
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// newRolloutCommand is one of promote, abort, retry, pause, resume, rollback.
func newRolloutCommand(g *globals, name, short string, flags func(*cobra.Command, *admin.CommandRequest)) *cobra.Command {
	req := &admin.CommandRequest{}
	cmd := &cobra.Command{
		Use:   name + " ROLLOUT",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			func(cmd *cobra.Command, req *admin.CommandRequest) {
				cmd.Flags().BoolVar(&req.Full, "full", false, "go straight to 100 % and complete")
				cmd.Flags().BoolVar(&req.Force, "force", false, "with --full: promote even if the canary is unhealthy or failing")
			}),
		newRolloutCommand(g, "abort", "Send all traffic back to stable at once and remove the plan's header routes", nil),
		newRolloutCommand(g, "retry", "Start an aborted plan again from step 0", nil),
		newRolloutCommand(g, "pause", "Hold the plan where it is (a timed pause keeps the time it has left)", nil),
		newRolloutCommand(g, "resume", "Continue a paused plan, or run an inconclusive analysis again", nil),
		newRolloutCommand(g, "rollback", "Go back to step N: weights and header routes as they were when it began",
			func(cmd *cobra.Command, req *admin.CommandRequest) {
				cmd.Flags().Var(stepFlag{req}, "to-step", "the step index to go back to")
				cmd.MarkFlagRequired("to-step")
			}),
	}
}

// stepFlag fills CommandRequest.ToStep.
type stepFlag struct{ req *admin.CommandRequest }

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
