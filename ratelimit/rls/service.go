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
	"google.golang.org/protobuf/types/known/structpb"
)

// Service answers Envoy's RateLimitService.ShouldRateLimit.
type Service struct {
	rlsv3.UnimplementedRateLimitServiceServer

	cfg   atomic.Pointer[Config]
	store *Store
	log   *slog.Logger
	// Headers adds RateLimit-Limit, -Remaining and -Reset to the answer,
	// under these names (envoyproxy/ratelimit's LIMIT_*_HEADER).
	Headers                                   bool
	HeaderLimit, HeaderRemaining, HeaderReset string
	// NearLimitRatio is the share of a limit past which hits also count as
	// near_limit in cutover_rls_hits_total.
	NearLimitRatio float64
	// CacheBytes bounds the over-limit cache; 0 turns it off.
	CacheBytes int
	// ShadowMode answers OK where the answer would be OVER_LIMIT, counting
	// it (envoyproxy/ratelimit's SHADOW_MODE).
	ShadowMode bool
	// QuotaMode treats every limit as quota_mode (QUOTA_MODE).
	QuotaMode bool
	// DynamicMetadata returns the request and the passed limits' metadata
	// in the answer's dynamic metadata (RESPONSE_DYNAMIC_METADATA).
	DynamicMetadata bool
	// Now is the clock of the over-limit cache.
	Now func() time.Time

	decisions *prometheus.CounterVec
	hits      *prometheus.CounterVec
	failures  prometheus.Counter
	degraded  prometheus.GaugeFunc

	mu        sync.Mutex // guards over and overBytes
	over      map[string]overEntry
	overBytes int
}

// DefaultCacheBytes is the over-limit cache's default size.
const DefaultCacheBytes = 4 << 20

// DefaultNearLimitRatio is envoyproxy/ratelimit's NEAR_LIMIT_RATIO.
const DefaultNearLimitRatio = 0.8

// overEntry remembers a counter known to be over its limit until its
// window resets, so that Redis is not asked again. The limit it was over is
// kept: a reload that raises the limit invalidates it (envoyproxy/ratelimit
// #1077 keeps refusing).
type overEntry struct {
	windowEnd int64 // unix seconds
	limit     uint32
}

// NewService answers from cfg with counters in store; its metrics go to reg.
func NewService(cfg *Config, store *Store, reg prometheus.Registerer, log *slog.Logger) *Service {
	s := &Service{
		store: store, log: log, Now: time.Now, over: map[string]overEntry{}, CacheBytes: DefaultCacheBytes,
		HeaderLimit: "RateLimit-Limit", HeaderRemaining: "RateLimit-Remaining", HeaderReset: "RateLimit-Reset",
		NearLimitRatio: DefaultNearLimitRatio,
	}
	s.cfg.Store(cfg)
	s.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cutover_rls_decisions_total",
		Help: "Rate-limit decisions by domain and result (ok, over_limit, shadow_over_limit, unlimited, no_limit, failure_allow, failure_deny).",
	}, []string{"domain", "result"})
	s.hits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cutover_rls_hits_total",
		Help: "Hits per limit, as envoyproxy/ratelimit's per-key stats: key is the limit's descriptor path (with the request's values for detailed_metric and value_to_metric limits), result within_limit, near_limit (also counted as within_limit), over_limit or shadow_mode.",
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
	"week": rlsv3.RateLimitResponse_RateLimit_WEEK, "month": rlsv3.RateLimitResponse_RateLimit_MONTH,
	"year": rlsv3.RateLimitResponse_RateLimit_YEAR,
}

// ShouldRateLimit implements Envoy's RateLimitService. Each descriptor is
// judged against its matching limit; the answer is OVER_LIMIT when any one
// is (a logical OR), or, for quota-mode limits, when all of them are.
// Limits replaced by another matching limit are dropped.
func (s *Service) ShouldRateLimit(ctx context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
	// envoyproxy/ratelimit's answers, code and text, for a request Envoy
	// never sends.
	if req.GetDomain() == "" {
		return nil, status.Error(codes.Unknown, "rate limit domain must not be empty")
	}
	if len(req.GetDescriptors()) == 0 {
		return nil, status.Error(codes.Unknown, "rate limit descriptor list must not be empty")
	}
	cfg := s.cfg.Load()
	// Envoy sends a descriptor or two with a few entries each: those fit
	// in arrays on the stack.
	var looksBuf [4]Lookup
	var entriesBuf [4][]Entry
	var flat [8]Entry
	looks, entries := looksBuf[:0], entriesBuf[:0]
	if n := len(req.Descriptors); n > len(looksBuf) {
		looks, entries = make([]Lookup, 0, n), make([][]Entry, 0, n)
	}
	looks, entries = looks[:len(req.Descriptors)], entries[:len(req.Descriptors)]
	all := flat[:0]
	for _, d := range req.Descriptors {
		for _, e := range d.GetEntries() {
			all = append(all, Entry{Key: e.GetKey(), Value: e.GetValue()})
		}
	}
	var replaced map[string]bool
	for i, d := range req.Descriptors {
		n := len(d.GetEntries())
		entries[i], all = all[:n:n], all[n:]
		if o := d.GetLimit(); o != nil {
			if r := cfg.Override(req.Domain, entries[i], o.GetRequestsPerUnit(), unitOf(rlsv3.RateLimitResponse_RateLimit_Unit(o.GetUnit()))); r != nil {
				looks[i] = Lookup{Rule: r, StatsKey: r.Key}
			}
			continue
		}
		looks[i] = cfg.Match(req.Domain, entries[i])
		if r := looks[i].Rule; r != nil && len(r.Replaces) > 0 {
			if replaced == nil {
				replaced = map[string]bool{}
			}
			for _, name := range r.Replaces {
				replaced[name] = true
			}
		}
	}
	ans := newAnswer(len(req.Descriptors))
	resp := &ans.resp
	var tightest *rlsv3.RateLimitResponse_DescriptorStatus
	var overRate, overQuota, quotas int
	var passed []*Rule
	for i, d := range req.Descriptors {
		st := resp.Statuses[i]
		r := looks[i].Rule
		if r != nil && r.Name != "" && replaced[r.Name] {
			r = nil
		}
		if r != nil && r.Unlimited {
			st.LimitRemaining = math.MaxUint32
			s.decisions.WithLabelValues(req.Domain, "unlimited").Inc()
			continue
		}
		quota := s.QuotaMode || r != nil && r.Quota
		if quota {
			quotas++
		}
		if r == nil {
			s.decisions.WithLabelValues(req.Domain, "no_limit").Inc()
			continue
		}
		hits := uint32(max(req.GetHitsAddend(), 1))
		if h := d.GetHitsAddend(); h != nil {
			hits = uint32(h.GetValue())
		}
		st.CurrentLimit = &ans.limits[i]
		st.CurrentLimit.Name, st.CurrentLimit.RequestsPerUnit, st.CurrentLimit.Unit = r.Name, r.RequestsPerUnit, unitNames[r.Unit]
		dec, over := s.decide(ctx, r, s.store.counterKey(req.Domain, entries[i], looks[i].Shared, r), hits)
		st.LimitRemaining = dec.Remaining
		st.DurationUntilReset = &ans.resets[i]
		st.DurationUntilReset.Seconds, st.DurationUntilReset.Nanos = int64(dec.Reset/time.Second), int32(dec.Reset%time.Second)
		statsKey := looks[i].StatsKey
		if s.Headers && (tightest == nil || st.LimitRemaining < tightest.LimitRemaining) {
			tightest = st
		}
		switch {
		case over && r.Shadow:
			s.decisions.WithLabelValues(req.Domain, "shadow_over_limit").Inc()
			s.hits.WithLabelValues(statsKey, "shadow_mode").Add(float64(hits))
			if s.DynamicMetadata {
				passed = append(passed, r)
			}
		case over:
			st.Code = rlsv3.RateLimitResponse_OVER_LIMIT
			s.hits.WithLabelValues(statsKey, "over_limit").Add(float64(hits))
			if quota {
				overQuota++
			} else {
				overRate++
				tightest = st
			}
		default:
			s.hits.WithLabelValues(statsKey, "within_limit").Add(float64(hits))
			if near := s.nearHits(r, dec, hits); near > 0 {
				s.hits.WithLabelValues(statsKey, "near_limit").Add(float64(near))
			}
			if s.DynamicMetadata {
				passed = append(passed, r)
			}
		}
	}
	if overRate > 0 || quotas > 0 && quotas == overQuota {
		resp.OverallCode = rlsv3.RateLimitResponse_OVER_LIMIT
		if s.ShadowMode {
			resp.OverallCode = rlsv3.RateLimitResponse_OK
			s.decisions.WithLabelValues(req.Domain, "global_shadow_mode").Inc()
		}
	}
	if s.Headers && tightest != nil {
		resp.ResponseHeadersToAdd = []*corev3.HeaderValue{
			{Key: s.HeaderLimit, Value: strconv.FormatUint(uint64(tightest.CurrentLimit.RequestsPerUnit), 10)},
			{Key: s.HeaderRemaining, Value: strconv.FormatUint(uint64(tightest.LimitRemaining), 10)},
			{Key: s.HeaderReset, Value: strconv.FormatInt(int64(math.Ceil(tightest.DurationUntilReset.AsDuration().Seconds())), 10)},
		}
	}
	if s.DynamicMetadata {
		resp.DynamicMetadata = dynamicMetadata(req, passed)
	}
	return resp, nil
}

// answer is a response with its statuses, limits and reset times, so that
// the answer to the usual single descriptor costs one allocation, and to
// more five, not four for each descriptor.
type answer struct {
	resp     rlsv3.RateLimitResponse
	statuses []rlsv3.RateLimitResponse_DescriptorStatus
	limits   []rlsv3.RateLimitResponse_RateLimit
	resets   []durationpb.Duration
	ptrs     []*rlsv3.RateLimitResponse_DescriptorStatus
	// one holds the common single descriptor's parts.
	one struct {
		status [1]rlsv3.RateLimitResponse_DescriptorStatus
		limit  [1]rlsv3.RateLimitResponse_RateLimit
		reset  [1]durationpb.Duration
		ptr    [1]*rlsv3.RateLimitResponse_DescriptorStatus
	}
}

func newAnswer(n int) *answer {
	a := &answer{}
	if n == 1 {
		a.statuses, a.limits, a.resets, a.ptrs = a.one.status[:], a.one.limit[:], a.one.reset[:], a.one.ptr[:]
	} else {
		a.statuses = make([]rlsv3.RateLimitResponse_DescriptorStatus, n)
		a.limits = make([]rlsv3.RateLimitResponse_RateLimit, n)
		a.resets = make([]durationpb.Duration, n)
		a.ptrs = make([]*rlsv3.RateLimitResponse_DescriptorStatus, n)
	}
	for i := range a.ptrs {
		a.statuses[i].Code = rlsv3.RateLimitResponse_OK
		a.ptrs[i] = &a.statuses[i]
	}
	a.resp.OverallCode = rlsv3.RateLimitResponse_OK
	a.resp.Statuses = a.ptrs
	return a
}

// nearHits is how many of a passed decision's hits went past the near
// limit, as envoyproxy/ratelimit counts them.
func (s *Service) nearHits(r *Rule, d Decision, hits uint32) uint32 {
	used := r.RequestsPerUnit - min(d.Remaining, r.RequestsPerUnit)
	near := uint32(math.Floor(float64(r.RequestsPerUnit) * s.NearLimitRatio))
	if used <= near {
		return 0
	}
	return min(used-near, hits)
}

func unitOf(u rlsv3.RateLimitResponse_RateLimit_Unit) string {
	for name, v := range unitNames {
		if v == u {
			return name
		}
	}
	return ""
}

// dynamicMetadata is what envoyproxy/ratelimit's RESPONSE_DYNAMIC_METADATA
// returns: the request's domain, descriptors and hits, and the metadata of
// every limit the request passed, merged.
func dynamicMetadata(req *rlsv3.RateLimitRequest, passed []*Rule) *structpb.Struct {
	fields := map[string]*structpb.Value{"domain": structpb.NewStringValue(req.Domain)}
	var descriptors []*structpb.Value
	for _, d := range req.Descriptors {
		var list []*structpb.Value
		for _, e := range d.GetEntries() {
			list = append(list, structpb.NewStringValue(e.GetKey()+"="+e.GetValue()))
		}
		df := map[string]*structpb.Value{"entries": structpb.NewListValue(&structpb.ListValue{Values: list})}
		if d.GetLimit() != nil {
			df["limit"] = structpb.NewStringValue(d.Limit.String())
		}
		if h := d.GetHitsAddend(); h != nil {
			df["hitsAddend"] = structpb.NewNumberValue(float64(h.GetValue()))
		}
		descriptors = append(descriptors, structpb.NewStructValue(&structpb.Struct{Fields: df}))
	}
	fields["descriptors"] = structpb.NewListValue(&structpb.ListValue{Values: descriptors})
	if h := req.GetHitsAddend(); h != 0 {
		fields["hitsAddend"] = structpb.NewNumberValue(float64(h))
	}
	merged := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for _, r := range passed {
		mergeStruct(merged, r.Metadata)
	}
	if len(merged.Fields) > 0 {
		fields["metadata"] = structpb.NewStructValue(merged)
	}
	return &structpb.Struct{Fields: fields}
}

// mergeStruct adds src's fields to dst; where both have a struct under a
// name the two are merged, otherwise the first value stays.
func mergeStruct(dst, src *structpb.Struct) {
	for k, v := range src.GetFields() {
		have, ok := dst.Fields[k]
		if !ok {
			dst.Fields[k] = v
			continue
		}
		if hs, vs := have.GetStructValue(), v.GetStructValue(); hs != nil && vs != nil {
			mergeStruct(hs, vs)
		}
	}
}

// decide asks the over-limit cache, then Redis, about the counter whose
// Redis key is key.
func (s *Service) decide(ctx context.Context, r *Rule, key string, hits uint32) (Decision, bool) {
	now := s.Now()
	s.mu.Lock()
	e, cached := s.over[key]
	if cached && (now.Unix() >= e.windowEnd || e.limit != r.RequestsPerUnit) {
		s.forget(key)
		cached = false
	}
	s.mu.Unlock()
	if cached {
		s.decisions.WithLabelValues(r.Domain, "over_limit").Inc()
		return Decision{Over: true, Limit: r.RequestsPerUnit, Reset: time.Duration(e.windowEnd-now.Unix()) * time.Second}, true
	}
	d, err := s.store.take(ctx, r, key, hits)
	if errors.Is(err, ErrRedis) {
		s.failures.Inc()
		result := "failure_allow"
		if d.Over {
			result = "failure_deny"
		}
		s.decisions.WithLabelValues(r.Domain, result).Inc()
		return d, d.Over
	}
	if d.Over {
		s.decisions.WithLabelValues(r.Domain, "over_limit").Inc()
		if !r.Sliding && d.Reset > 0 && d.Remaining == 0 && !d.At.IsZero() {
			// The window's end on Redis's clock, in whole seconds, so that
			// the cache answers the time Redis would.
			s.remember(key, overEntry{windowEnd: d.At.Unix() + int64(d.Reset/time.Second), limit: r.RequestsPerUnit})
		}
	} else {
		s.decisions.WithLabelValues(r.Domain, "ok").Inc()
	}
	return d, d.Over
}

// entryBytes is about what a cache entry costs besides its key.
const entryBytes = 64

// remember caches a counter known to be over; when the cache is full it
// first drops the entries whose window has ended, then takes no more.
func (s *Service) remember(key string, e overEntry) {
	size := len(key) + entryBytes
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overBytes+size > s.CacheBytes {
		now := s.Now().Unix()
		for k, old := range s.over {
			if now >= old.windowEnd {
				s.forget(k)
			}
		}
		if s.overBytes+size > s.CacheBytes {
			return
		}
	}
	if _, ok := s.over[key]; !ok {
		s.overBytes += size
	}
	s.over[key] = e
}

// forget drops a cache entry; s.mu is held.
func (s *Service) forget(key string) {
	if _, ok := s.over[key]; ok {
		delete(s.over, key)
		s.overBytes -= len(key) + entryBytes
	}
}
