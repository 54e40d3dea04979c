package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/cutover-dev/cutover/ratelimit/rls"
)

func newRateLimitCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ratelimit",
		Short: "The global rate-limit service (Envoy's RateLimitService on Redis)",
	}
	var (
		dir, grpcAddr, httpAddr, redisAddr, sentinel, failureMode string
		timeout, pipelineWindow                                   time.Duration
		pipelineLimit, streamWorkers                              int
		headers                                                   bool
	)
	serve := &cobra.Command{
		Use:   "serve --config-dir DIR --redis ADDR",
		Short: "Serve envoy.service.ratelimit.v3.RateLimitService from envoyproxy/ratelimit config files",
		Long: `Serves Envoy's RateLimitService over gRPC, reading envoyproxy/ratelimit's
configuration format unchanged: one file per domain in --config-dir, reloaded
when a file changes; a bad file is refused with file:line and the running
configuration keeps serving. Counters live in Redis; when Redis does not
answer within --timeout, decisions follow --failure-mode (allow or deny),
/readyz answers 503 and cutover_rls_degraded is 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if failureMode != "allow" && failureMode != "deny" {
				return fmt.Errorf("--failure-mode: %q is not allow or deny", failureMode)
			}
			switch {
			case streamWorkers < 0:
				return fmt.Errorf("--grpc-stream-workers: %d is below 0", streamWorkers)
			case pipelineLimit < 1:
				return fmt.Errorf("--redis-pipeline-limit: %d is below 1", pipelineLimit)
			case pipelineWindow < 0:
				return fmt.Errorf("--redis-pipeline-window: %v is below 0", pipelineWindow)
			}
			// One quick dial and no retries: a decision waits at most --timeout.
			// RESP2: the service needs no push notifications, and go-redis
			// looks for them before every RESP3 reply (3 % of the CPU).
			opts := &redis.UniversalOptions{
				Addrs: strings.Split(redisAddr, ","), DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
				MaxRetries: -1, DialerRetries: 1, DialerRetryTimeout: time.Millisecond, PoolSize: 256, Protocol: 2,
			}
			redis.SetLogger(redisLogger{log})
			if sentinel != "" {
				master, addrs, ok := strings.Cut(sentinel, "@")
				if !ok {
					return fmt.Errorf("--redis-sentinel: want MASTER@host:port[,host:port]")
				}
				opts.MasterName, opts.Addrs = master, strings.Split(addrs, ",")
			}
			rdb := redis.NewUniversalClient(opts)
			defer rdb.Close()
			store := rls.NewStore(rdb)
			store.SetPipeline(pipelineWindow, pipelineLimit)
			store.Timeout = timeout
			store.FailClosed = failureMode == "deny"
			srv, err := rls.NewServer(dir, store, log)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return exitError(1)
			}
			srv.Service.Headers = headers
			srv.StreamWorkers = streamWorkers
			collectLessOften()
			grpcLn, err := net.Listen("tcp", grpcAddr)
			if err != nil {
				return err
			}
			httpLn, err := net.Listen("tcp", httpAddr)
			if err != nil {
				return err
			}
			log.Info("rate-limit service listening", "grpc", grpcLn.Addr().String(), "http", httpLn.Addr().String(), "domains", srv.Service.Config().Domains())
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return srv.Serve(ctx, grpcLn, httpLn)
		},
	}
	f := serve.Flags()
	f.StringVar(&dir, "config-dir", "ratelimit", "directory of envoyproxy/ratelimit config files, one domain each")
	f.StringVar(&grpcAddr, "grpc", "127.0.0.1:8081", "gRPC address (RateLimitService and health)")
	f.StringVar(&httpAddr, "http", "127.0.0.1:8080", "HTTP address (/healthz, /readyz, /metrics)")
	f.StringVar(&redisAddr, "redis", "127.0.0.1:6379", "Redis address; several, comma-separated, for a cluster")
	f.StringVar(&sentinel, "redis-sentinel", "", "Sentinel: MASTER@host:port[,host:port]")
	f.StringVar(&failureMode, "failure-mode", "allow", "answer while Redis is unreachable: allow or deny")
	f.DurationVar(&timeout, "timeout", 50*time.Millisecond, "Redis timeout per decision")
	f.BoolVar(&headers, "headers", false, "add RateLimit-Limit, -Remaining and -Reset headers to answers")
	f.DurationVar(&pipelineWindow, "redis-pipeline-window", rls.DefaultPipelineWindow,
		"while Redis is busy, how long a decision waits for others to share its round trip (0: never); as envoyproxy/ratelimit's REDIS_PIPELINE_WINDOW")
	f.IntVar(&streamWorkers, "grpc-stream-workers", rls.DefaultStreamWorkers, "goroutines kept to answer calls, so each call does not start on a fresh stack (0: one new goroutine per call)")
	f.IntVar(&pipelineLimit, "redis-pipeline-limit", rls.DefaultPipelineLimit, "most decisions in one Redis round trip")
	cmd.AddCommand(serve)
	return cmd
}

// redisLogger sends go-redis's own messages (dial failures while Redis is
// down, many a second) to the debug log instead of standard output.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "redis")
}
