package cliview

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/rollout"
)

// Render draws the view for a terminal, without colour.
func Render(v *rollout.View) string {
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
	if d := v.DecommissionFrom; d != nil {
		fmt.Fprintf(&b, "Stable:    %s stays ready to take the traffic back until %s; it can be decommissioned then\n", v.Stable, d.Format(time.RFC3339))
	}
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

// Follow prints the view fetch returns and, with watch, prints it again
// each time it changes until ctx ends: over the last one when clear (a
// terminal), else below a rule.
func Follow(ctx context.Context, out io.Writer, watch, clear bool, interval time.Duration, fetch func() (*rollout.View, error)) error {
	last := ""
	for {
		v, err := fetch()
		if err != nil {
			return err
		}
		if frame := Render(v); frame != last {
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
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}
