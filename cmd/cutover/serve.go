package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover-dev/cutover/server"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/state"
)

func newServeCmd(g *globals) *cobra.Command {
	var files []string
	var watch time.Duration
	var opts state.Options
	cmd := &cobra.Command{
		Use:   "serve -f cutover.yaml [-f plan.yaml] [--state DIR]",
		Short: "Run the gateway from a config file",
		Long: `Run the gateway. Runtime state (weights set through the admin API, the
audit log) and the admin token live in the state directory and survive a
restart. SIGHUP, a change of the file or POST /api/v1/reload reloads the
config; a config with any problem is refused and the running one keeps
serving. SIGUSR1 reopens access-log files. SIGTERM drains and exits 0.
Plans (kind: Rollout) in the config start with it and resume where they
were after a restart.

The state file is checked at start: a damaged or empty one is refused
with what to do. A consistent backup (state.db.bak) is written at each
clean start and every few minutes while the state changes;
--state-recover restores it and --state-reset starts with no runtime
state, both moving the damaged file aside.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if err := configGiven(files, cmd.Flags().Changed("file")); err != nil {
				return err
			}
			return serve(cmd.Context(), files, g.stateDir, opts, watch, log)
		},
	}
	cmd.Flags().StringSliceVarP(&files, "file", "f", []string{"cutover.yaml"}, "config file; repeat it (or separate with commas) for a plan in a file of its own")
	cmd.Flags().DurationVar(&watch, "watch-interval", time.Second, "how often to check the config file for changes (0: only SIGHUP and the API reload)")
	cmd.Flags().BoolVar(&opts.Recover, "state-recover", false, "restore the state from its backup (state.db.bak), moving the damaged state.db aside")
	cmd.Flags().BoolVar(&opts.Reset, "state-reset", false, "start with no runtime state (weights, plan positions, audit log), moving state.db aside")
	cmd.Flags().IntVar(&opts.MaxEvents, "audit-max-events", state.DefaultMaxEvents, "audit log events to keep; older ones are deleted")
	cmd.Flags().DurationVar(&opts.MaxEventAge, "audit-max-age", state.DefaultMaxEventAge, "audit log events older than this are deleted")
	return cmd
}

// configGiven checks that the config files exist before anything is
// created: without -f and without ./cutover.yaml, say what is missing.
func configGiven(files []string, explicit bool) error {
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			if !explicit && errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no config: there is no %s here and no -f was given; pass one with -f FILE (e.g. cutover serve -f examples/two-backend-migration.yaml), or try cutover demo, which needs none", f)
			}
			return fmt.Errorf("config file: %w", err)
		}
	}
	return nil
}

// gcPercent is the GOGC the gateway and the rate-limit service run with
// unless GOGC is set. Their live heap is small and mostly per-request
// garbage; collecting less often bought 13 % more requests/s in
// bench/run.sh, and 5 % fewer CPU seconds per rate-limit decision, for a
// few MB of memory.
const gcPercent = 400

func collectLessOften() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

func serve(ctx context.Context, files []string, stateDir string, opts state.Options, watch time.Duration, log *slog.Logger) error {
	if ctx == nil {
		ctx = context.Background()
	}
	collectLessOften()
	// A config that cannot serve is refused before the state directory and
	// token are created.
	cfg, err := spec.Load(files...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitError(1)
	}
	for _, w := range cfg.Warnings {
		log.Warn("config field without effect", "field", w.Error())
	}
	store, token, err := openState(stateDir, opts)
	if err != nil {
		return err
	}
	defer store.Close()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv, err := server.New(ctx, files, store, token, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitError(1)
	}
	srv.Gateway.WatchInterval = watch
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-sigs:
				if sig == syscall.SIGUSR1 {
					srv.Gateway.ReopenLogs() // after logrotate moved the files
				} else {
					srv.Gateway.Reload("sighup")
				}
			}
		}
	}()
	return srv.Run(ctx)
}

// openState opens the state directory: the store and the admin token.
func openState(dir string, opts state.Options) (*state.Store, string, error) {
	store, err := state.OpenWith(dir, opts)
	if err != nil {
		return nil, "", err
	}
	token, err := state.LoadOrCreateToken(dir)
	if err != nil {
		store.Close()
		return nil, "", err
	}
	return store, token, nil
}
