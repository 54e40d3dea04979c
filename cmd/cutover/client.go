package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover-dev/cutover/admin"
	"github.com/cutover-dev/cutover/admin/wire"
	"github.com/cutover-dev/cutover/gateway"
	"github.com/cutover-dev/cutover/gateway/mirror"
	"github.com/cutover-dev/cutover/state"
)

func (g *globals) client() (*wire.Client, error) {
	token := g.token
	if token == "" {
		data, err := os.ReadFile(filepath.Join(g.stateDir, state.TokenFile))
		if err != nil {
			return nil, fmt.Errorf("no admin token: pass --token, set CUTOVER_TOKEN, or point --state at the gateway's state directory (%v)", err)
		}
		token = strings.TrimSpace(string(data))
	}
	base := strings.TrimSuffix(g.admin, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	actor := "cli"
	if u, err := user.Current(); err == nil {
		host, _ := os.Hostname()
		actor = u.Username + "@" + host
	}
	return &wire.Client{Base: base, Token: token, Actor: actor}, nil
}

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show routes, weights and endpoint health of a running gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var st admin.Status
			if err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/status", nil, &st); err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(cmd.OutOrStdout(), &st)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON")
	return cmd
}

func printStatus(out io.Writer, st *admin.Status) {
	fmt.Fprintf(out, "gateway %s  generation %d  config %s (%.12s)  ready %v\n", st.Gateway, st.Generation, st.ConfigFile, st.ConfigHash, st.Ready)
	if lr := st.LastReload; !lr.OK {
		fmt.Fprintf(out, "last reload REFUSED at %s by %s:\n  %s\n", lr.Time.Format(time.RFC3339), lr.Actor, strings.ReplaceAll(lr.Error, "\n", "\n  "))
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nROUTE\tBACKEND\tVERSION\tWEIGHT\tEFFECTIVE\tHEALTHY\tSOURCE")
	for _, r := range st.Routes {
		for _, b := range r.Backends {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d%%\t%.1f%%\t%v\t%s\n", r.Name, b.Name, b.Version, b.Weight, b.Effective, b.Healthy, r.Source)
		}
	}
	fmt.Fprintln(tw, "\nBACKEND\tENDPOINT\tHEALTHY\tACTIVE CHECK\tEJECTED\tSLOW START")
	for _, b := range st.Backends {
		for _, e := range b.Endpoints {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%v\t%.0f%%\n", b.Name, e.Address, e.Healthy, e.ActiveCheck, e.Ejected, e.SlowStart)
		}
	}
	if len(st.Rollouts) > 0 {
		fmt.Fprintln(tw, "\nROLLOUT\tROUTE\tPHASE\tSTEP\tCANARY\tREASON")
		for _, r := range st.Rollouts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s %d%%\t%s\n", r.Name, r.Route, r.State.Phase, r.State.Step, len(r.Steps), r.Canary, r.State.Weight, r.State.Reason)
		}
	}
	tw.Flush()
}

func newWeightCmd(g *globals) *cobra.Command {
	var reason string
	var reset bool
	cmd := &cobra.Command{
		Use:   "weight ROUTE BACKEND=PCT ...",
		Short: "Set a route's weights on a running gateway (backends left out get 0)",
		Example: `  cutover weight web new=34 legacy=66
  cutover weight web new=100 --reason "all green"
  cutover weight web --reset     # back to the config's weights`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			route := args[0]
			var st gateway.Status
			if reset {
				if len(args) > 1 {
					return fmt.Errorf("--reset takes no BACKEND=PCT arguments")
				}
				err = c.Do(cmd.Context(), http.MethodDelete, "/api/v1/routes/"+route+"/weights?reason="+url.QueryEscape(reason), nil, &st)
			} else {
				if len(args) < 2 {
					return fmt.Errorf("give at least one BACKEND=PCT")
				}
				req := wire.WeightsRequest{Weights: map[string]json.Number{}, Reason: reason}
				for _, a := range args[1:] {
					name, pct, ok := strings.Cut(a, "=")
					pct = strings.TrimSuffix(pct, "%")
					if !ok || name == "" {
						return fmt.Errorf("%q is not BACKEND=PCT", a)
					}
					if _, err := strconv.Atoi(pct); err != nil {
						return fmt.Errorf("%q: weight %q is not an integer", a, pct)
					}
					req.Weights[name] = json.Number(pct)
				}
				err = c.Do(cmd.Context(), http.MethodPut, "/api/v1/routes/"+route+"/weights", req, &st)
			}
			if err != nil {
				return err
			}
			for _, r := range st.Routes {
				if r.Name == route {
					parts := []string{}
					for _, b := range r.Backends {
						parts = append(parts, fmt.Sprintf("%s=%d%%", b.Name, b.Weight))
					}
					fmt.Fprintf(cmd.OutOrStdout(), "route %s: %s (%s)\n", route, strings.Join(parts, " "), r.Source)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit log")
	cmd.Flags().BoolVar(&reset, "reset", false, "drop the runtime weights; the config's apply again")
	return cmd
}

func newReloadCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Ask a running gateway to reload its config file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var st gateway.Status
			if err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/reload", nil, &st); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reloaded: generation %d, config %.12s\n", st.Generation, st.ConfigHash)
			return nil
		},
	}
}

func newEventsCmd(g *globals) *cobra.Command {
	var follow bool
	var limit int
	var before uint64
	cmd := &cobra.Command{
		Use:   "events [--follow] [--limit N] [--before SEQ]",
		Short: "Show the audit log of a running gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !follow {
				var resp struct {
					Events []state.Event
					Before uint64
				}
				if err := c.Do(cmd.Context(), http.MethodGet, fmt.Sprintf("/api/v1/events?limit=%d&before=%d", limit, before), nil, &resp); err != nil {
					return err
				}
				for _, ev := range resp.Events {
					printEvent(out, ev)
				}
				if resp.Before > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "older events: cutover events --limit %d --before %d\n", limit, resp.Before)
				}
				return nil
			}
			return followEvents(cmd.Context(), c, limit, func(ev state.Event) { printEvent(out, ev) })
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing new events as they happen")
	cmd.Flags().IntVar(&limit, "limit", 50, "how many of the newest events to show first")
	cmd.Flags().Uint64Var(&before, "before", 0, "show the page of events older than this sequence number")
	return cmd
}

// follow reads the Server-Sent Events stream until ctx ends.
func followEvents(ctx context.Context, c *wire.Client, limit int, fn func(state.Event)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/events?follow=1&limit=%d", c.Base, limit), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin API: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev state.Event
		if err := json.Unmarshal([]byte(data), &ev); err == nil {
			fn(ev)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}

func printEvent(out io.Writer, ev state.Event) {
	line := fmt.Sprintf("%s  #%d  %-16s %-10s by %s", ev.Time.Local().Format("2006-01-02 15:04:05"), ev.Seq, ev.Action, ev.Target, ev.Actor)
	show := orDash
	if strings.HasPrefix(ev.Action, "managed-route") {
		show = managedRoutes
	}
	if len(ev.Before) > 0 || len(ev.After) > 0 {
		line += fmt.Sprintf("  %s → %s", show(ev.Before), show(ev.After))
	}
	if ev.Reason != "" {
		line += "  (" + strings.ReplaceAll(ev.Reason, "\n", "; ") + ")"
	}
	fmt.Fprintln(out, line)
}

// managedRoutes shows a list of managed routes as a user writes them.
func managedRoutes(b json.RawMessage) string {
	var mrs []gateway.ManagedRoute
	if len(b) == 0 || json.Unmarshal(b, &mrs) != nil {
		return orDash(b)
	}
	if len(mrs) == 0 {
		return "none"
	}
	parts := make([]string, len(mrs))
	for i, mr := range mrs {
		parts[i] = mr.String()
	}
	return strings.Join(parts, "; ")
}

func orDash(b json.RawMessage) string {
	if len(b) == 0 {
		return "-"
	}
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

func newDiffsCmd(g *globals) *cobra.Command {
	var asJSON bool
	return &cobra.Command{
		Use:   "diffs ROUTE",
		Short: "Show the last mirrored requests of a route whose primary and shadow answers differed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var resp struct {
				Diffs []mirror.Diff `json:"diffs"`
			}
			if err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/routes/"+url.PathEscape(args[0])+"/diffs", nil, &resp); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(resp.Diffs)
			}
			if len(resp.Diffs) == 0 {
				fmt.Fprintf(out, "route %s: no differing answers\n", args[0])
			}
			for _, d := range resp.Diffs {
				fmt.Fprintf(out, "%s  %-7s %s %s  primary %d, shadow %d\n", d.Time.Local().Format("15:04:05"), d.Kind, d.Method, d.Path, d.PrimaryStatus, d.ShadowStatus)
				if d.Kind == "body" || d.Kind == "status" {
					fmt.Fprintf(out, "    primary: %q\n    shadow:  %q\n", clip(d.PrimaryBody, 120), clip(d.ShadowBody, 120))
				}
			}
			return nil
		},
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
