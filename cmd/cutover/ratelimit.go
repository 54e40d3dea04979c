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

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cutover-dev/cutover/internal/tlsfiles"
	"github.com/cutover-dev/cutover/ratelimit/rls"
	"github.com/redis/go-redis/v9"
)

// rlsFlags are `cutover ratelimit serve`'s settings.
type rlsFlags struct {
	dir, grpcAddr, httpAddr, debugAddr, metricsAddr, metricsPath string
	failureMode, cacheKeyPrefix                                  string
	timeout, pipelineWindow                                      time.Duration
	pipelineLimit, streamWorkers, cacheBytes                     int
	headers, shadowMode, quotaMode, dynamicMetadata, mergeDomain bool
	headerLimit, headerRemaining, headerReset                    string
	nearLimitRatio                                               float64
	grpcCert, grpcKey, grpcClientCA, grpcClientSAN               string

	redis     redisFlags
	perSecond redisFlags
	// perSecondOn keeps per-second limits on their own Redis.
	perSecondOn                           bool
	perSecondPipelineWindow               time.Duration
	perSecondPipelineLimit                int
	redisTLSCert, redisTLSKey, redisTLSCA string
	redisTLSSkipVerify                    bool
}

// redisFlags describe one Redis; the TLS files are shared, as in
// envoyproxy/ratelimit.
type redisFlags struct {
	addr, sentinel, typ, socket, auth, sentinelAuth string
	tls                                             bool
	poolSize                                        int
	timeout                                         time.Duration
}

func newRateLimitCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ratelimit",
		Short: "The global rate-limit service (Envoy's RateLimitService on Redis)",
	}
	var o rlsFlags
	serve := &cobra.Command{
		Use:   "serve --config-dir DIR --redis ADDR",
		Short: "Serve envoy.service.ratelimit.v3.RateLimitService from envoyproxy/ratelimit config files",
		Long: `Serves Envoy's RateLimitService over gRPC, reading envoyproxy/ratelimit's
configuration format unchanged: one file per domain in --config-dir, reloaded
when a file changes; a bad file is refused with file:line and the running
configuration keeps serving. Counters live in Redis; when Redis does not
answer within --timeout, decisions follow --failure-mode (allow or deny),
/readyz answers 503 and cutover_rls_degraded is 1.

envoyproxy/ratelimit's environment variables (RUNTIME_ROOT, REDIS_URL,
REDIS_AUTH, REDIS_TLS*, GRPC_PORT, LOG_LEVEL and the rest) are honoured
where the matching flag is not given, so that a Deployment written for it
needs only its image changed; settings cutover does not implement
(memcache, statsd, xDS configuration) are refused at start by name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyPeerEnv(cmd.Flags(), cmd.Root().PersistentFlags(), os.LookupEnv); err != nil {
				return err
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			return serveRateLimit(cmd.Context(), o, log)
		},
	}
	f := serve.Flags()
	f.StringVar(&o.dir, "config-dir", "ratelimit", "directory of envoyproxy/ratelimit config files, one domain each")
	f.BoolVar(&o.mergeDomain, "merge-domain-config", false, "let several files add to one domain instead of refusing the second")
	f.StringVar(&o.grpcAddr, "grpc", "127.0.0.1:8081", "gRPC address (RateLimitService and health)")
	f.StringVar(&o.grpcCert, "grpc-tls-cert", "", "serve gRPC over TLS with this certificate file (reloaded when it changes)")
	f.StringVar(&o.grpcKey, "grpc-tls-key", "", "the key file of --grpc-tls-cert")
	f.StringVar(&o.grpcClientCA, "grpc-client-ca", "", "require client certificates from the CAs in this file (mutual TLS)")
	f.StringVar(&o.grpcClientSAN, "grpc-client-san", "", "require this subject alternative name in client certificates")
	f.StringVar(&o.httpAddr, "http", "127.0.0.1:8080", "HTTP address (/healthz, /readyz, /metrics)")
	f.StringVar(&o.debugAddr, "debug", "", "another HTTP address with the same endpoints (envoyproxy/ratelimit's debug port)")
	f.StringVar(&o.metricsAddr, "metrics", "", "another HTTP address with the same endpoints, for a Prometheus scrape")
	f.StringVar(&o.metricsPath, "metrics-path", "/metrics", "path of the metrics besides /metrics")
	f.StringVar(&o.failureMode, "failure-mode", "allow", "answer while Redis is unreachable: allow or deny")
	f.DurationVar(&o.timeout, "timeout", 50*time.Millisecond, "Redis timeout per decision")
	f.BoolVar(&o.headers, "headers", false, "add RateLimit-Limit, -Remaining and -Reset headers to answers")
	f.StringVar(&o.headerLimit, "header-limit", "RateLimit-Limit", "name of the limit header")
	f.StringVar(&o.headerRemaining, "header-remaining", "RateLimit-Remaining", "name of the remaining header")
	f.StringVar(&o.headerReset, "header-reset", "RateLimit-Reset", "name of the reset header")
	f.BoolVar(&o.shadowMode, "shadow-mode", false, "answer OK where the answer would be OVER_LIMIT (counted in cutover_rls_decisions_total)")
	f.BoolVar(&o.quotaMode, "quota-mode", false, "treat every limit as quota_mode")
	f.BoolVar(&o.dynamicMetadata, "dynamic-metadata", false, "return the request and the passed limits' metadata as dynamic metadata")
	f.IntVar(&o.cacheBytes, "local-cache-size", rls.DefaultCacheBytes, "bytes of the cache of counters known to be over their limit (0: off)")
	f.Float64Var(&o.nearLimitRatio, "near-limit-ratio", rls.DefaultNearLimitRatio, "share of a limit past which hits also count as near_limit")
	f.StringVar(&o.cacheKeyPrefix, "cache-key-prefix", "", "prefix of every counter's Redis key")
	f.DurationVar(&o.pipelineWindow, "redis-pipeline-window", rls.DefaultPipelineWindow,
		"while Redis is busy, how long at most a decision waits for others to share its round trip; it goes as soon as the round trip before it is back (0: never waits); as envoyproxy/ratelimit's REDIS_PIPELINE_WINDOW")
	f.IntVar(&o.streamWorkers, "grpc-stream-workers", rls.DefaultStreamWorkers, "goroutines kept to answer calls, so each call does not start on a fresh stack (0: one new goroutine per call)")
	f.IntVar(&o.pipelineLimit, "redis-pipeline-limit", rls.DefaultPipelineLimit, "most decisions in one Redis round trip")
	redisFlagSet(f, &o.redis, "redis", "", "127.0.0.1:6379")
	f.BoolVar(&o.perSecondOn, "redis-per-second", false, "keep per-second limits' counters on a Redis of their own (--redis-per-second-*)")
	redisFlagSet(f, &o.perSecond, "redis-per-second-addr", "redis-per-second-", "")
	f.DurationVar(&o.perSecondPipelineWindow, "redis-per-second-pipeline-window", rls.DefaultPipelineWindow, "--redis-pipeline-window for the per-second Redis")
	f.IntVar(&o.perSecondPipelineLimit, "redis-per-second-pipeline-limit", rls.DefaultPipelineLimit, "--redis-pipeline-limit for the per-second Redis")
	f.StringVar(&o.redisTLSCert, "redis-tls-cert", "", "client certificate file for Redis TLS")
	f.StringVar(&o.redisTLSKey, "redis-tls-key", "", "client key file for Redis TLS")
	f.StringVar(&o.redisTLSCA, "redis-tls-ca", "", "CA file that signed Redis's certificate (default: the system's)")
	f.BoolVar(&o.redisTLSSkipVerify, "redis-tls-skip-verify", false, "do not verify Redis's certificate (insecure)")
	cmd.AddCommand(serve)
	return cmd
}

// redisFlagSet declares one Redis's flags: --redis and --redis-type, or
// --redis-per-second-addr and --redis-per-second-type.
func redisFlagSet(f *pflag.FlagSet, r *redisFlags, addrFlag, prefix, addrDefault string) {
	if prefix == "" {
		prefix = "redis-"
	}
	f.StringVar(&r.addr, addrFlag, addrDefault, "Redis address; several, comma-separated, for a cluster")
	f.StringVar(&r.sentinel, prefix+"sentinel", "", "Sentinel: MASTER@host:port[,host:port]")
	f.StringVar(&r.typ, prefix+"type", "", "single, cluster or sentinel (default: sentinel with --"+prefix+"sentinel, cluster with several addresses, else single)")
	f.StringVar(&r.socket, prefix+"socket-type", "tcp", "tcp or unix (the address is then a socket path)")
	f.StringVar(&r.auth, prefix+"auth", "", "Redis password, or user:password for an ACL user")
	f.StringVar(&r.sentinelAuth, prefix+"sentinel-auth", "", "password, or user:password, for the sentinels")
	f.BoolVar(&r.tls, prefix+"tls", false, "connect over TLS (--redis-tls-cert, -key, -ca, -skip-verify)")
	f.IntVar(&r.poolSize, prefix+"pool-size", 256, "connections kept to each Redis")
	f.DurationVar(&r.timeout, prefix+"timeout", 0, "Redis dial, read and write timeout (default: --timeout)")
}

func (o rlsFlags) redisConfig(r redisFlags, name string) (rls.RedisConfig, error) {
	c := rls.RedisConfig{
		Type: r.typ, Network: r.socket, Addrs: strings.Split(r.addr, ","), Auth: r.auth, SentinelAuth: r.sentinelAuth,
		TLS: r.tls, TLSCert: o.redisTLSCert, TLSKey: o.redisTLSKey, TLSCA: o.redisTLSCA, TLSSkipHostnameVerifying: o.redisTLSSkipVerify,
		Timeout: r.timeout, PoolSize: r.poolSize,
	}
	if c.Timeout == 0 {
		c.Timeout = o.timeout
	}
	if r.sentinel != "" {
		master, addrs, ok := strings.Cut(r.sentinel, "@")
		if !ok {
			return c, fmt.Errorf("--%ssentinel: want MASTER@host:port[,host:port]", name)
		}
		c.MasterName, c.Addrs = master, strings.Split(addrs, ",")
		if c.Type == "" {
			c.Type = "sentinel"
		}
	}
	if c.Type == "" {
		c.Type = "single"
		if len(c.Addrs) > 1 {
			c.Type = "cluster"
		}
	}
	return c, nil
}

func serveRateLimit(ctx context.Context, o rlsFlags, log *slog.Logger) error {
	if o.failureMode != "allow" && o.failureMode != "deny" {
		return fmt.Errorf("--failure-mode: %q is not allow or deny", o.failureMode)
	}
	switch {
	case o.streamWorkers < 0:
		return fmt.Errorf("--grpc-stream-workers: %d is below 0", o.streamWorkers)
	case o.pipelineLimit < 1:
		return fmt.Errorf("--redis-pipeline-limit: %d is below 1", o.pipelineLimit)
	case o.pipelineWindow < 0:
		return fmt.Errorf("--redis-pipeline-window: %v is below 0", o.pipelineWindow)
	case o.cacheBytes < 0:
		return fmt.Errorf("--local-cache-size: %d is below 0", o.cacheBytes)
	case o.nearLimitRatio < 0 || o.nearLimitRatio > 1:
		return fmt.Errorf("--near-limit-ratio: %v is not between 0 and 1", o.nearLimitRatio)
	case o.httpAddr == "":
		return fmt.Errorf("--http: an address is needed (/healthz, /readyz, /metrics)")
	case (o.grpcCert == "") != (o.grpcKey == ""):
		return fmt.Errorf("--grpc-tls-cert and --grpc-tls-key go together")
	case o.grpcClientCA != "" && o.grpcCert == "":
		return fmt.Errorf("--grpc-client-ca needs --grpc-tls-cert and --grpc-tls-key")
	}
	redis.SetLogger(redisLogger{log})
	rc, err := o.redisConfig(o.redis, "redis-")
	if err != nil {
		return err
	}
	rdb, err := rc.Client()
	if err != nil {
		return fmt.Errorf("--redis: %w", err)
	}
	defer rdb.Close()
	store := rls.NewStore(rdb)
	store.SetPipeline(o.pipelineWindow, o.pipelineLimit)
	store.Timeout = o.timeout
	store.FailClosed = o.failureMode == "deny"
	store.Prefix = o.cacheKeyPrefix
	if o.perSecondOn {
		pc, err := o.redisConfig(o.perSecond, "redis-per-second-")
		if err != nil {
			return err
		}
		if o.perSecond.addr == "" && o.perSecond.sentinel == "" {
			return fmt.Errorf("--redis-per-second needs --redis-per-second-addr or --redis-per-second-sentinel")
		}
		prdb, err := pc.Client()
		if err != nil {
			return fmt.Errorf("--redis-per-second-addr: %w", err)
		}
		defer prdb.Close()
		store.SetPerSecond(prdb, o.perSecondPipelineWindow, o.perSecondPipelineLimit)
	}
	srv, err := rls.NewServer(o.dir, rls.LoadOptions{MergeDomains: o.mergeDomain}, store, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitError(1)
	}
	svc := srv.Service
	svc.Headers, svc.HeaderLimit, svc.HeaderRemaining, svc.HeaderReset = o.headers, o.headerLimit, o.headerRemaining, o.headerReset
	svc.ShadowMode, svc.QuotaMode, svc.DynamicMetadata = o.shadowMode, o.quotaMode, o.dynamicMetadata
	svc.CacheBytes, svc.NearLimitRatio = o.cacheBytes, o.nearLimitRatio
	srv.StreamWorkers = o.streamWorkers
	srv.MetricsPath = o.metricsPath
	if o.grpcCert != "" {
		if srv.TLS, err = tlsfiles.Server(o.grpcCert, o.grpcKey, o.grpcClientCA, o.grpcClientSAN); err != nil {
			return fmt.Errorf("--grpc-tls-cert: %w", err)
		}
	}
	collectLessOften()
	grpcLn, err := net.Listen("tcp", o.grpcAddr)
	if err != nil {
		return err
	}
	var httpLns []net.Listener
	for _, addr := range []string{o.httpAddr, o.debugAddr, o.metricsAddr} {
		if addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		httpLns = append(httpLns, ln)
	}
	log.Info("rate-limit service listening", "grpc", grpcLn.Addr().String(), "tls", srv.TLS != nil, "http", httpLns[0].Addr().String(), "domains", svc.Config().Domains())
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.Serve(ctx, grpcLn, httpLns...)
}

// redisLogger sends go-redis's own messages (dial failures while Redis is
// down, many a second) to the debug log instead of standard output.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "redis")
}
