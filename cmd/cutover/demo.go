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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover-dev/cutover/server"
	"github.com/cutover-dev/cutover/state"
)

//go:embed demo.yaml
var demoConfig string

func newDemoCmd(g *globals) *cobra.Command {
	var rps int
	var duration time.Duration
	var addr, adminAddr string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the gateway in front of two demo backends with synthetic traffic; no config needed",
		Long: `Starts two demo backends on loopback (legacy v1 and new v2, each answering
with its own name), the gateway in front of them with 10 % going to new, and
a little synthetic traffic. Every second it prints the requests each backend
answered and the errors. Change the split from another terminal with the
command it prints. Ctrl-C stops it and prints a summary.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("log-level") {
				g.logLevel = "warn" // keep the per-second lines readable
			}
			log, err := g.logger()
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
			return runDemo(ctx, cmd.OutOrStdout(), log, rps, addr, adminAddr)
		},
	}
	cmd.Flags().IntVar(&rps, "rps", 50, "synthetic requests per second")
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	cmd.Flags().StringVar(&addr, "listen", "127.0.0.1:0", "gateway address (port 0 picks a free one)")
	cmd.Flags().StringVar(&adminAddr, "admin-listen", "127.0.0.1:0", "admin API address")
	return cmd
}

// demoBackend answers every request with its name and version.
func demoBackend(name, version string) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Backend", name)
			w.Header().Set("X-Version", version)
			fmt.Fprintf(w, "%s %s\n", name, version)
		}),
	}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String(), nil
}

func runDemo(ctx context.Context, out io.Writer, log *slog.Logger, rps int, addr, adminAddr string) error {
	legacySrv, legacyURL, err := demoBackend("legacy", "v1")
	if err != nil {
		return err
	}
	defer legacySrv.Close()
	newSrv, newURL, err := demoBackend("new", "v2")
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
	cfg := strings.NewReplacer("{{LEGACY}}", legacyURL, "{{NEW}}", newURL, "{{ADDR}}", addr, "{{ADMIN}}", adminAddr).Replace(demoConfig)
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		return err
	}
	stateDir := filepath.Join(dir, "state")
	store, err := state.Open(stateDir)
	if err != nil {
		return err
	}
	defer store.Close()
	token, err := state.LoadOrCreateToken(stateDir)
	if err != nil {
		return err
	}
	gwCtx, stopGateway := context.WithCancel(context.Background())
	srv, err := server.New(gwCtx, file, store, token, log)
	if err != nil {
		stopGateway()
		return err
	}
	gw := srv.Gateway
	done := make(chan error, 1)
	go func() { done <- srv.Run(gwCtx) }()
	select {
	case <-gw.Started():
	case err := <-done:
		stopGateway()
		return err
	}
	target := "http://" + gw.Addr("http")
	fmt.Fprintf(out, "cutover demo: gateway %s  →  legacy (v1) %s 90%%, new (v2) %s 10%%\n", target, legacyURL, newURL)
	fmt.Fprintf(out, "change the split from another terminal:\n  go run ./cmd/cutover --admin %s --state %s weight web new=50 legacy=50\n\n", gw.Addr("admin"), stateDir)

	counts := runTraffic(ctx, out, target, rps)
	stopGateway()
	if err := <-done; err != nil {
		return err
	}
	counts.summary(out)
	return nil
}

// demoCounts are what the synthetic client saw.
type demoCounts struct {
	mu       sync.Mutex
	backends map[string]int
	errors   int
	total    int
}

func runTraffic(ctx context.Context, out io.Writer, target string, rps int) *demoCounts {
	all := &demoCounts{backends: map[string]int{}}
	second := &demoCounts{backends: map[string]int{}}
	client := &http.Client{Timeout: 5 * time.Second}
	interval := time.Second / time.Duration(max(rps, 1))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	report := time.NewTicker(time.Second)
	defer report.Stop()
	var wg sync.WaitGroup
	var inflight atomic.Int64
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return all
		case <-report.C:
			second.mu.Lock()
			fmt.Fprintf(out, "%4.0fs  legacy %4d  new %4d  errors %d\n", time.Since(start).Seconds(), second.backends["legacy"], second.backends["new"], second.errors)
			second.backends, second.errors, second.total = map[string]int{}, 0, 0
			second.mu.Unlock()
		case <-tick.C:
			if inflight.Load() > 64 {
				continue // the demo never piles up requests
			}
			inflight.Add(1)
			wg.Go(func() {
				defer inflight.Add(-1)
				backend := ""
				resp, err := client.Get(target + "/")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						backend = resp.Header.Get("X-Backend")
					}
				}
				for _, c := range []*demoCounts{all, second} {
					c.mu.Lock()
					c.total++
					if backend == "" {
						c.errors++
					} else {
						c.backends[backend]++
					}
					c.mu.Unlock()
				}
			})
		}
	}
}

func (c *demoCounts) summary(out io.Writer) {
	pct := func(n int) float64 {
		if c.total == 0 {
			return 0
		}
		return 100 * float64(n) / float64(c.total)
	}
	fmt.Fprintf(out, "\nsummary: %d requests  legacy %d (%.1f%%)  new %d (%.1f%%)  errors %d\n",
		c.total, c.backends["legacy"], pct(c.backends["legacy"]), c.backends["new"], pct(c.backends["new"]), c.errors)
}
