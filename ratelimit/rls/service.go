package rls

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Service answers Envoy's RateLimitService.ShouldRateLimit.
type Service struct {
	rlsv3.UnimplementedRateLimitServiceServer

	cfg   atomic.Pointer[Config]
	store *Store
	log   *slog.Logger
	// Headers adds RateLimit-Limit, -Remaining and -Reset to the answer.
	Headers bool
	// Now is the clock of the over-limit cache.
	Now func() time.Time

	decisions *prometheus.CounterVec
	hits      *prometheus.CounterVec
	failures  prometheus.Counter
	degraded  prometheus.GaugeFunc

	mu   sync.Mutex // guards over
	over map[string]overEntry
}

// overEntry remembers a counter known to be over its limit until its
// window resets, so that Redis is not asked again. The limit it was over is
// kept: a reload that raises the limit invalidates it (envoyproxy/ratelimit
// #1077 keeps refusing).
type overEntry struct {
	until time.Time
	limit uint32
}

// NewService answers from cfg with counters in store; its metrics go to reg.
func NewService(cfg *Config, store *Store, reg prometheus.Registerer, log *slog.Logger) *Service {
	s := &Service{store: store, log: log, Now: time.Now, over: map[string]overEntry{}}
	s.cfg.Store(cfg)
	s.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cutover_rls_decisions_total",
		Help: "Rate-limit decisions by domain and result (ok, over_limit, shadow_over_limit, unlimited, no_limit, failure_allow, failure_deny).",
	}, []string{"domain", "result"})
	s.hits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cutover_rls_hits_total",
		Help: "Hits per limit, as envoyproxy/ratelimit's per-key stats: key is the limit's descriptor path (with the request's value for detailed_metric limits), result within_limit, over_limit or shadow_mode.",
	}, []string{"key", "result"})
	s.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cutover_rls_redis_failures_total",
		Help: "Decisions taken without Redis, by the failure mode.",
	})
	s.degraded = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cutover_rls_degraded",
		Help: "1 while Redis is unreachable and decisions follow the failure mode.",
	}, func() float64 {
		if store.Degraded() {
			return 1
		}
		return 0
	})
	if reg != nil {
		reg.MustRegister(s.decisions, s.hits, s.failures, s.degraded)
	}
	return s
}

// SetConfig swaps the configuration in; decisions in flight finish on the old one.
func (s *Service) SetConfig(cfg *Config) { s.cfg.Store(cfg) }

// Config returns the configuration being served.
func (s *Service) Config() *Config { return s.cfg.Load() }

var unitNames = map[string]rlsv3.RateLimitResponse_RateLimit_Unit{
	"second": rlsv3.RateLimitResponse_RateLimit_SECOND, "minute": rlsv3.RateLimitResponse_RateLimit_MINUTE,
	"hour": rlsv3.RateLimitResponse_RateLimit_HOUR, "day": rlsv3.RateLimitResponse_RateLimit_DAY,
}

// ShouldRateLimit implements Envoy's RateLimitService. Each descriptor is
// judged against its matching limit; the answer is OVER_LIMIT when any one
// is (a logical OR). Limits replaced by another matching limit are dropped.
func (s *Service) ShouldRateLimit(ctx context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
	if req.GetDomain() == "" {
		return nil, status.Error(codes.InvalidArgument, "domain is required")
	}
	if len(req.GetDescriptors()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "at least one descriptor is required")
	}
	cfg := s.cfg.Load()
	rules := make([]*Rule, len(req.Descriptors))
	entries := make([][]Entry, len(req.Descriptors))
	var replaced map[string]bool
	for i, d := range req.Descriptors {
		entries[i] = make([]Entry, len(d.GetEntries()))
		for j, e := range d.GetEntries() {
			entries[i][j] = Entry{Key: e.GetKey(), Value: e.GetValue()}
		}
		rules[i] = cfg.Match(req.Domain, entries[i])
		if rules[i] != nil && len(rules[i].Replaces) > 0 {
			if replaced == nil {
				replaced = map[string]bool{}
			}
			for _, name := range rules[i].Replaces {
				replaced[name] = true
			}
		}
	}
	resp := &rlsv3.RateLimitResponse{OverallCode: rlsv3.RateLimitResponse_OK, Statuses: make([]*rlsv3.RateLimitResponse_DescriptorStatus, 0, len(req.Descriptors))}
	var tightest *rlsv3.RateLimitResponse_DescriptorStatus
	for i, d := range req.Descriptors {
		st := &rlsv3.RateLimitResponse_DescriptorStatus{Code: rlsv3.RateLimitResponse_OK}
		resp.Statuses = append(resp.Statuses, st)
		r := rules[i]
		if r != nil && r.Name != "" && replaced[r.Name] {
			r = nil
		}
		if r == nil {
			s.decisions.WithLabelValues(req.Domain, "no_limit").Inc()
			continue
		}
		if r.Unlimited {
			st.LimitRemaining = math.MaxUint32
			s.decisions.WithLabelValues(req.Domain, "unlimited").Inc()
			continue
		}
		hits := uint32(max(req.GetHitsAddend(), 1))
		if h := d.GetHitsAddend(); h != nil {
			hits = uint32(h.GetValue())
		}
		st.CurrentLimit = &rlsv3.RateLimitResponse_RateLimit{Name: r.Name, RequestsPerUnit: r.RequestsPerUnit, Unit: unitNames[r.Unit]}
		dec, over := s.decide(ctx, r, CounterKey(r, entries[i]), hits)
		st.LimitRemaining = dec.Remaining
		st.DurationUntilReset = durationpb.New(dec.Reset)
		statsKey := r.Key
		if r.DetailedMetric && len(entries[i]) > 0 {
			// detailed_metric: a key-only limit is counted per value.
			statsKey += "_" + entries[i][len(entries[i])-1].Value
		}
		switch {
		case over && r.Shadow:
			s.decisions.WithLabelValues(req.Domain, "shadow_over_limit").Inc()
			s.hits.WithLabelValues(statsKey, "shadow_mode").Add(float64(hits))
		case over:
			st.Code = rlsv3.RateLimitResponse_OVER_LIMIT
			resp.OverallCode = rlsv3.RateLimitResponse_OVER_LIMIT
			s.hits.WithLabelValues(statsKey, "over_limit").Add(float64(hits))
		default:
			s.hits.WithLabelValues(statsKey, "within_limit").Add(float64(hits))
		}
		if tightest == nil || st.LimitRemaining < tightest.LimitRemaining {
			tightest = st
		}
	}
	if s.Headers && tightest != nil {
		resp.ResponseHeadersToAdd = []*corev3.HeaderValue{
			{Key: "RateLimit-Limit", Value: strconv.FormatUint(uint64(tightest.CurrentLimit.RequestsPerUnit), 10)},
			{Key: "RateLimit-Remaining", Value: strconv.FormatUint(uint64(tightest.LimitRemaining), 10)},
			{Key: "RateLimit-Reset", Value: strconv.FormatInt(int64(math.Ceil(tightest.DurationUntilReset.AsDuration().Seconds())), 10)},
		}
	}
	return resp, nil
}

// decide asks the over-limit cache, then Redis.
func (s *Service) decide(ctx context.Context, r *Rule, key string, hits uint32) (Decision, bool) {
	now := s.Now()
	s.mu.Lock()
	e, cached := s.over[key]
	if cached && (now.After(e.until) || e.limit != r.RequestsPerUnit) {
		delete(s.over, key)
		cached = false
	}
	s.mu.Unlock()
	if cached {
		s.decisions.WithLabelValues(domainOf(r), "over_limit").Inc()
		return Decision{Over: true, Limit: r.RequestsPerUnit, Reset: e.until.Sub(now)}, true
	}
	d, err := s.store.Take(ctx, r, key, hits)
	if errors.Is(err, ErrRedis) {
		s.failures.Inc()
		result := "failure_allow"
		if d.Over {
			result = "failure_deny"
		}
		s.decisions.WithLabelValues(domainOf(r), result).Inc()
		return d, d.Over
	}
	if d.Over {
		s.decisions.WithLabelValues(domainOf(r), "over_limit").Inc()
		if !r.Sliding && d.Reset > 0 && d.Remaining == 0 {
			s.mu.Lock()
			s.over[key] = overEntry{until: now.Add(d.Reset), limit: r.RequestsPerUnit}
			s.mu.Unlock()
		}
	} else {
		s.decisions.WithLabelValues(domainOf(r), "ok").Inc()
	}
	return d, d.Over
}

func domainOf(r *Rule) string {
	for i := range len(r.Key) {
		if r.Key[i] == '.' {
			return r.Key[:i]
		}
	}
	return r.Key
}
