package rls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cutover-dev/cutover/internal/loop"
	"github.com/cutover-dev/cutover/spec"
)

// Server is `cutover ratelimit serve`: the gRPC service, gRPC health, and
// an HTTP listener with /healthz, /readyz and /metrics; it reloads the
// configuration directory when a file changes.
type Server struct {
	Service  *Service
	Registry *prometheus.Registry
	dir      string
	opts     LoadOptions
	log      *slog.Logger
	reloads  *prometheus.CounterVec
	health   *health.Server

	// WatchInterval is how often the directory is checked; 0 turns it off.
	WatchInterval time.Duration
	// StreamWorkers is how many goroutines answer calls; see DefaultStreamWorkers.
	StreamWorkers int
	// TLS, when set, serves gRPC over TLS (with client certificates if it
	// asks for them).
	TLS *tls.Config
	// MetricsPath serves the metrics at a path besides /metrics
	// (envoyproxy/ratelimit's PROMETHEUS_PATH).
	MetricsPath string
	lastHash    string
}

// NewServer loads dir and builds the service on store. A bad directory at
// start is an error; later, a bad file keeps the running configuration.
func NewServer(dir string, opts LoadOptions, store *Store, log *slog.Logger) (*Server, error) {
	cfg, err := opts.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{
		Service: NewService(cfg, store, reg, log), Registry: reg, dir: dir, opts: opts, log: log,
		WatchInterval: time.Second, StreamWorkers: DefaultStreamWorkers, health: health.NewServer(),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cutover_rls_config_reloads_total",
			Help: "Configuration reloads by result (success or failure).",
		}, []string{"result"}),
	}
	reg.MustRegister(s.reloads)
	s.lastHash, _ = dirHash(dir)
	return s, nil
}

// Reload reads the directory again; a directory with any bad file is
// refused and the running configuration keeps serving.
func (s *Server) Reload() error {
	cfg, err := s.opts.LoadDir(s.dir)
	if err != nil {
		s.reloads.WithLabelValues("failure").Inc()
		s.log.Error("rate-limit config refused; the running config keeps serving", "dir", s.dir, "err", err)
		return err
	}
	s.Service.SetConfig(cfg)
	s.reloads.WithLabelValues("success").Inc()
	s.log.Info("rate-limit config reloaded", "domains", cfg.Domains())
	return nil
}

// dirHash fingerprints the configuration files' names and contents.
func dirHash(dir string) (string, error) {
	files, err := configFiles(dir)
	if err != nil {
		return "", err
	}
	srcs := make([]spec.Source, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		srcs = append(srcs, spec.Source{File: f, Data: data})
	}
	if len(srcs) == 0 {
		return "", nil
	}
	return spec.HashSources(srcs) + fmt.Sprint(files), nil
}

// DefaultStreamWorkers is how many goroutines answer calls. gRPC otherwise
// starts a goroutine per call, whose stack then grows, copied each time, to
// the depth of a decision's call chain: 12 % of the service's CPU under
// bench/rlsclient. Kept workers keep their grown stacks; a call that finds
// all of them busy still gets a goroutine of its own.
const DefaultStreamWorkers = 128

// Serve runs the gRPC listener and the HTTP listeners until ctx ends;
// every HTTP listener serves the same endpoints (the peer's debug and
// Prometheus ports among them).
func (s *Server) Serve(ctx context.Context, grpcLn net.Listener, httpLns ...net.Listener) error {
	var opts []grpc.ServerOption
	if s.StreamWorkers > 0 {
		opts = append(opts, grpc.NumStreamWorkers(uint32(s.StreamWorkers)))
	}
	if s.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.TLS)))
	}
	g := grpc.NewServer(opts...)
	rlsv3.RegisterRateLimitServiceServer(g, s.Service)
	healthpb.RegisterHealthServer(g, s.health)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	// envoyproxy/ratelimit's probe path, so that a Deployment's probes work.
	mux.HandleFunc("GET /healthcheck", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("OK")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.Service.store.Degraded() {
			mode := "allow"
			if s.Service.store.FailClosed {
				mode = "deny"
			}
			http.Error(w, "degraded: redis unreachable; answering "+mode, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	metrics := promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{})
	mux.Handle("GET /metrics", metrics)
	if s.MetricsPath != "" && s.MetricsPath != "/metrics" {
		mux.Handle("GET "+s.MetricsPath, metrics)
	}
	// CPU profiles, as envoyproxy/ratelimit's debug port offers; the HTTP
	// listener is on loopback unless told otherwise.
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1+len(httpLns))
	go func() { errc <- g.Serve(grpcLn) }()
	for _, ln := range httpLns {
		go func() {
			if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	go s.watch(ctx)
	select {
	case <-ctx.Done():
	case err := <-errc:
		g.Stop()
		hs.Close()
		return err
	}
	s.health.Shutdown()
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		g.Stop()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

func (s *Server) watch(ctx context.Context) {
	if s.WatchInterval <= 0 {
		return
	}
	loop.Every(ctx, s.WatchInterval, func(v any, stack []byte) {
		s.log.Error("rate-limit config watch panicked; the running config keeps serving", "panic", v, "stack", string(stack))
	}, func() {
		h, err := dirHash(s.dir)
		if err != nil || h == s.lastHash {
			return
		}
		s.lastHash = h
		s.Reload()
	})
}
