package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/internal/cliview"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/server"
	"github.com/cutover-dev/cutover/state"
)

//go:embed demo.yaml
var demoConfig string

// demoOptions are the demo's flags.
type demoOptions struct {
	rps             int
	addr, adminAddr string
	fault           string
	faultFromStep   int
	keepRunning     bool
	stepPause       time.Duration
}

func newDemoCmd(g *globals) *cobra.Command {
	var o demoOptions
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole migration plan on one machine, with synthetic traffic; no config needed",
		Long: `Starts two demo backends on loopback (legacy v1 and new v2, each answering
with its own name), the gateway in front of them at 10 % to new, synthetic
traffic, and a plan: a header preview (x-preview: new), 10 % of requests
mirrored to new with the answers compared, then 10 %, 34 %, 67 % and 100 %,
with the new side compared against the old one between steps. It draws the plan as it goes and ends with a summary.

--fault errors=5% or --fault latency=200ms makes the new side misbehave from
step --fault-from-step on: the analysis aborts the plan and all traffic goes
back to legacy at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("log-level") {
				g.logLevel = "warn" // keep the demo's own lines readable
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			f, err := parseFault(o.fault)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			return runDemo(ctx, cmd.OutOrStdout(), log, o, f)
		},
	}
	cmd.Flags().IntVar(&o.rps, "rps", 200, "synthetic requests per second")
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long (0: when the plan ends, or Ctrl-C)")
	cmd.Flags().StringVar(&o.addr, "listen", "127.0.0.1:0", "gateway address (port 0 picks a free one)")
	cmd.Flags().StringVar(&o.adminAddr, "admin-listen", "127.0.0.1:0", "admin API address")
	cmd.Flags().StringVar(&o.fault, "fault", "", "make the new side misbehave: errors=5% or latency=200ms")
	cmd.Flags().IntVar(&o.faultFromStep, "fault-from-step", 4, "the plan step from which the fault starts (4: the first weight step)")
	cmd.Flags().BoolVar(&o.keepRunning, "keep-running", false, "keep serving after the plan ends, until Ctrl-C")
	cmd.Flags().DurationVar(&o.stepPause, "step-pause", 10*time.Second, "how long the plan watches each weight before its analysis")
	return cmd
}

// fault is a misbehaviour of the demo's new side.
type fault struct {
	errorRate float64
	latency   time.Duration
}

func parseFault(s string) (fault, error) {
	if s == "" {
		return fault{}, nil
	}
	kind, val, _ := strings.Cut(s, "=")
	switch kind {
	case "errors":
		pct, err := strconv.ParseFloat(strings.TrimSuffix(val, "%"), 64)
		if err != nil || pct <= 0 || pct > 100 {
			return fault{}, fmt.Errorf("--fault errors=%s: want a percentage such as 5%%", val)
		}
		return fault{errorRate: pct / 100}, nil
	case "latency":
		d, err := time.ParseDuration(val)
		if err != nil || d <= 0 {
			return fault{}, fmt.Errorf("--fault latency=%s: want a duration such as 200ms", val)
		}
		return fault{latency: d}, nil
	}
	return fault{}, fmt.Errorf("--fault %q: want errors=PCT or latency=DURATION", s)
}

// demoBackend answers every request with its name and version; while its
// fault is on, it fails or slows down some answers.
type demoBackend struct {
	name, version string
	fault         fault
	on            atomic.Bool
	n             atomic.Int64
}

func (b *demoBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Backend", b.name)
	w.Header().Set("X-Version", b.version)
	if r.URL.Path != "/healthz" && b.on.Load() {
		if b.fault.latency > 0 {
			time.Sleep(b.fault.latency)
		}
		// Every n-th answer fails, so the rate is exact and never random.
		if b.fault.errorRate > 0 && b.n.Add(1)%int64(1/b.fault.errorRate) == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}
	fmt.Fprintln(w, "hello from the shop") // the same page from both sides, as a migration should be
}

func (b *demoBackend) start() (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: b}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String(), nil
}

func runDemo(ctx context.Context, out io.Writer, log *slog.Logger, o demoOptions, f fault) error {
	legacy := &demoBackend{name: "legacy", version: "v1"}
	next := &demoBackend{name: "new", version: "v2", fault: f}
	legacySrv, legacyURL, err := legacy.start()
	if err != nil {
		return err
	}
	defer legacySrv.Close()
	newSrv, newURL, err := next.start()
	if err != nil {
		return err
	}
	defer newSrv.Close()

	dir, err := os.MkdirTemp("", "cutover-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "cutover.yaml")
	cfg := strings.NewReplacer("{{LEGACY}}", legacyURL, "{{NEW}}", newURL, "{{ADDR}}", o.addr, "{{ADMIN}}", o.adminAddr, "{{PAUSE}}", o.stepPause.String()).Replace(demoConfig)
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		return err
	}
	stateDir := filepath.Join(dir, "state")
	store, token, err := openState(stateDir, state.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	srvCtx, stopServer := context.WithCancel(context.Background())
	defer stopServer()
	srv, err := server.New(srvCtx, []string{file}, store, token, log)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(srvCtx) }()
	select {
	case <-srv.Gateway.Started():
	case err := <-done:
		return err
	}
	target := "http://" + srv.Gateway.Addr("http")
	fmt.Fprintf(out, "cutover demo: gateway %s  ->  legacy (v1) %s, new (v2) %s\n", target, legacyURL, newURL)
	fmt.Fprintf(out, "watch or steer it from another terminal:\n  go run ./cmd/cutover --admin %s --state %s get rollout web --watch\n", srv.Gateway.Addr("admin"), stateDir)
	// The token goes in the fragment, which the browser never sends.
	fmt.Fprintf(out, "or in a browser, the dashboard:\n  http://%s/ui/#token=%s\n", srv.Gateway.Addr("admin"), token)
	if f != (fault{}) {
		fmt.Fprintf(out, "fault: new misbehaves (%s) from step %d on\n", o.fault, o.faultFromStep)
	}
	fmt.Fprintln(out)

	// Traffic starts once the plan has taken its first step, the preview
	// route: a preview request sent before it exists would go by weight and
	// spoil the count of previews answered by new.
	engine := srv.Rollouts.Get("web")
	for wait := time.Now().Add(5 * time.Second); engine.View().State.Step == 0 && time.Now().Before(wait) && ctx.Err() == nil; {
		time.Sleep(10 * time.Millisecond)
	}
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	defer stopTraffic()
	counts := &demoCounts{backends: map[string]int{}}
	trafficDone := make(chan struct{})
	go func() { runTraffic(trafficCtx, target, o.rps, counts); close(trafficDone) }()

	start := time.Now()
	lastKey := ""
	var endedAt time.Time
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	report := time.NewTicker(time.Second)
	defer report.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-report.C:
			fmt.Fprintln(out, counts.second(time.Since(start)))
		case <-tick.C:
		}
		v := engine.View()
		if v.State.Step >= o.faultFromStep && f != (fault{}) && !next.on.Load() {
			next.on.Store(true)
			fmt.Fprintf(out, "\n*** fault on: new now misbehaves (%s) ***\n", o.fault)
		}
		key := fmt.Sprintf("%s/%d/%s", v.State.Phase, v.State.Step, v.State.Reason)
		if key != lastKey {
			fmt.Fprintf(out, "\n%s\n", cliview.Render(&v))
			lastKey = key
		}
		if (v.State.Phase == rollout.Completed || v.State.Phase == rollout.Aborted) && !o.keepRunning {
			if endedAt.IsZero() {
				endedAt = time.Now()
			} else if time.Since(endedAt) > 2*time.Second {
				break loop
			}
		}
	}
	stopTraffic()
	<-trafficDone
	stopServer()
	if err := <-done; err != nil {
		return err
	}
	printDemoSummary(out, engine.View(), counts, time.Since(start))
	if kinds := srv.Gateway.Metrics().MirrorDiffs("shadow"); len(kinds) > 0 {
		total := 0.0
		var parts []string
		for _, k := range []string{"same", "status", "headers", "body", "error"} {
			if n := kinds[k]; n > 0 {
				total += n
				parts = append(parts, fmt.Sprintf("%.0f %s", n, k))
			}
		}
		fmt.Fprintf(out, "mirrored to new and compared: %.0f (%s)\n", total, strings.Join(parts, ", "))
	}
	return nil
}

// demoCounts are what the synthetic client saw. Backend errors are 5xx
// answers a backend sent itself; switch errors are everything else that
// failed: the gateway's own answers and transport errors.
type demoCounts struct {
	mu             sync.Mutex
	backends       map[string]int
	total          int
	backendErrors  int
	switchErrors   int
	preview        int
	previewOnNew   int
	secBackends    [2]int
	secErrors      int
	firstSwitchErr string
}

func (c *demoCounts) second(elapsed time.Duration) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	line := fmt.Sprintf("%5.0fs  legacy %4d  new %4d  errors %d", elapsed.Seconds(), c.secBackends[0], c.secBackends[1], c.secErrors)
	c.secBackends, c.secErrors = [2]int{}, 0
	return line
}

func runTraffic(ctx context.Context, target string, rps int, c *demoCounts) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	interval := time.Second / time.Duration(max(rps, 1))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var wg sync.WaitGroup
	var inflight atomic.Int64
	var n atomic.Int64
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
		}
		if inflight.Load() > 128 {
			continue // the demo never piles up requests
		}
		inflight.Add(1)
		preview := n.Add(1)%20 == 0 // one request in 20 asks for the preview
		wg.Go(func() {
			defer inflight.Add(-1)
			req, _ := http.NewRequest(http.MethodGet, target+"/", nil)
			if preview {
				req.Header.Set("X-Preview", "new")
			}
			resp, err := client.Do(req)
			backend, status, reason := "", 0, ""
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				backend, status, reason = resp.Header.Get("X-Backend"), resp.StatusCode, resp.Header.Get("X-Cutover-Reason")
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			c.total++
			switch {
			case err != nil || reason != "" || backend == "":
				c.switchErrors++
				c.secErrors++
				if c.firstSwitchErr == "" {
					c.firstSwitchErr = fmt.Sprintf("%v %d %s", err, status, reason)
				}
				return
			case status >= 500:
				c.backendErrors++
				c.secErrors++
			}
			c.backends[backend]++
			if backend == "legacy" {
				c.secBackends[0]++
			} else {
				c.secBackends[1]++
			}
			if preview {
				c.preview++
				if backend == "new" {
					c.previewOnNew++
				}
			}
		})
	}
}

func printDemoSummary(out io.Writer, v rollout.View, c *demoCounts, elapsed time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(out, "\n=== summary after %s: plan %s", elapsed.Round(time.Second), v.State.Phase)
	if v.State.Reason != "" {
		fmt.Fprintf(out, " (%s)", v.State.Reason)
	}
	fmt.Fprintln(out)
	hist := v.State.History
	for i, h := range hist {
		if h.Step >= len(v.Steps) {
			continue
		}
		took := ""
		if i+1 < len(hist) {
			took = hist[i+1].At.Sub(h.At).Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(out, "  step %-2d  %-52s %s\n", h.Step, v.Steps[h.Step].Text, took)
	}
	pct := func(n int) float64 {
		if c.total == 0 {
			return 0
		}
		return 100 * float64(n) / float64(c.total)
	}
	fmt.Fprintf(out, "requests: %d  legacy %d (%.1f%%)  new %d (%.1f%%)\n", c.total, c.backends["legacy"], pct(c.backends["legacy"]), c.backends["new"], pct(c.backends["new"]))
	fmt.Fprintf(out, "preview requests (x-preview: new): %d, answered by new: %d\n", c.preview, c.previewOnNew)
	fmt.Fprintf(out, "errors sent by the backends: %d\n", c.backendErrors)
	fmt.Fprintf(out, "errors caused by the switch: %d\n", c.switchErrors)
	if c.firstSwitchErr != "" {
		fmt.Fprintf(out, "  first: %s\n", c.firstSwitchErr)
	}
	for _, run := range []*analysis.Run{v.State.Analysis, v.State.Background} {
		if run != nil {
			for _, m := range run.Metrics {
				if n := len(m.Measurements); n > 0 {
					fmt.Fprintf(out, "last verdict: %s %s: %s\n", m.Name, m.Phase, m.Measurements[n-1].Value)
				}
			}
		}
	}
}
