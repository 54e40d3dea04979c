package gateway

import (
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cutover-dev/cutover/gateway/mirror"
	"github.com/cutover-dev/cutover/internal/loop"
)

// Metrics are the gateway's Prometheus series, in a registry of its own.
type Metrics struct {
	Registry *prometheus.Registry

	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	healthy    *prometheus.GaugeVec
	weight     *prometheus.GaugeVec
	reloads    *prometheus.CounterVec
	reloadOK   prometheus.Gauge
	unrouted   prometheus.Counter
	handovers  *prometheus.CounterVec
	ratelimits *prometheus.CounterVec

	overflow       *prometheus.CounterVec
	ejections      *prometheus.CounterVec
	clientErrors   *prometheus.CounterVec
	panics         *prometheus.CounterVec
	mirrorRequests *prometheus.CounterVec
	mirrorDropped  *prometheus.CounterVec
	mirrorDiffs    *prometheus.CounterVec

	mu     sync.Mutex // guards series
	series map[[3]string]*routeMetrics

	// The gauge series the last table published, so that the next deletes
	// only those gone: a scrape never sees the gauges empty.
	tableMu       sync.Mutex
	weightSeries  map[[2]string]bool
	healthySeries map[[2]string]bool
}

func newMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		series:   map[[3]string]*routeMetrics{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cutover_requests_total",
			Help: "Requests served, by route, backend, backend version and status code.",
		}, []string{"route", "backend", "version", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cutover_request_duration_seconds",
			Help:    "Time from receiving a request to the end of its response.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "backend", "version"}),
		healthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cutover_upstream_healthy",
			Help: "1 if the endpoint takes requests (active check passing and not ejected), else 0.",
		}, []string{"backend", "endpoint"}),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cutover_route_weight",
			Help: "Effective weight of a backend in a route, in percent of the route's requests, after health.",
		}, []string{"route", "backend"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cutover_config_reloads_total",
			Help: "Config reloads, by result (success or failure).",
		}, []string{"result"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cutover_config_last_reload_successful",
			Help: "1 if the last config reload was applied, 0 if it was refused.",
		}),
		unrouted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cutover_unrouted_requests_total",
			Help: "Requests that matched no route and got 404.",
		}),
		handovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cutover_handovers_total",
			Help: "Connections the fast server handed over to net/http's, by the reason of the request that made it (upgrade, chunked-body, large-body, http1.0, request-target, route).",
		}, []string{"reason"}),
		ratelimits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cutover_ratelimit_total",
			Help: "Local rate-limit decisions by route, limiter and result (allowed, delayed, limited, dry_run).",
		}, []string{"route", "limiter", "result"}),
		overflow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cutover_overflow_total",
			Help: "Requests refused (503 overflow) or retries not made because a backend's circuit breaker was full, by backend and limit.",
		}, []string{"backend", "limit"}),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cutover_outlier_ejections_total",
			Help: "Passive ejections of endpoints, by backend and the counter that reached its threshold; refused_max_ejection_percent counts ejections maxEjectionPercent held back.",
		}, []string{"backend", "reason"}),
		clientErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cutover_client_errors_total",
			Help: "Exchanges that failed on the client's side, by route and kind (malformed-request-body, client-body-timeout, client-gone, request-body-too-large). Never counted against an upstream.",
		}, []string{"route", "kind"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cutover_background_panics_total",
			Help: "Panics recovered in background loops, by loop; the loop goes on.",
		}, []string{"loop"}),
		mirrorRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cutover_mirror_requests_total",
			Help: "Mirrored copies answered by the shadow backend, by route, backend and status code (error: no answer). Never counted in cutover_requests_total.",
		}, []string{"route", "backend", "code"}),
		mirrorDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cutover_mirror_dropped_total",
			Help: "Copies not sent, by route and reason (pool_full, body_too_large, no_healthy_upstream).",
		}, []string{"route", "reason"}),
		mirrorDiffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cutover_mirror_diff_total",
			Help: "Comparisons of primary and shadow answers, by route and kind (same, status, headers, body, error).",
		}, []string{"route", "kind"}),
	}
	m.Registry.MustRegister(m.requests, m.duration, m.healthy, m.weight, m.reloads, m.reloadOK, m.unrouted, m.handovers, m.ratelimits, m.overflow, m.ejections, m.clientErrors, m.panics, m.mirrorRequests, m.mirrorDropped, m.mirrorDiffs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	m.reloadOK.Set(1)
	return m
}

// routeMetrics are one route and backend's series, resolved when a table
// is compiled so that a request only indexes an array. They outlive reloads:
// analysis reads the counters and latency samples across them.
type routeMetrics struct {
	labels   [3]string
	requests *prometheus.CounterVec
	duration prometheus.Observer
	codes    [600]atomic.Pointer[prometheus.Counter]

	total, errors atomic.Int64 // answered requests and 5xx among them
	samples       latencyRing
	perSecond     secondRing
}

func (m *Metrics) forRoute(route, backend, version string) *routeMetrics {
	key := [3]string{route, backend, version}
	m.mu.Lock()
	defer m.mu.Unlock()
	if rm, ok := m.series[key]; ok {
		return rm
	}
	rm := &routeMetrics{
		labels:   key,
		requests: m.requests,
		duration: m.duration.WithLabelValues(route, backend, version),
	}
	m.series[key] = rm
	return rm
}

// latencyRing keeps the latest latency samples of a route and backend with
// their times, for the analysis' rank test. Writers never wait; a reader may
// see a slot being overwritten, which only costs it one sample.
type latencyRing struct {
	next  atomic.Uint64
	slots [latencySlots]struct {
		at      atomic.Int64  // UnixNano
		seconds atomic.Uint64 // float64 bits
	}
}

const latencySlots = 8192

func (r *latencyRing) add(at time.Time, d time.Duration) {
	i := (r.next.Add(1) - 1) % latencySlots
	r.slots[i].at.Store(0)
	r.slots[i].seconds.Store(math.Float64bits(d.Seconds()))
	r.slots[i].at.Store(at.UnixNano())
}

// since returns the samples taken at or after t, in seconds.
func (r *latencyRing) since(t time.Time) []float64 {
	var out []float64
	from := t.UnixNano()
	for i := range r.slots {
		if at := r.slots[i].at.Load(); at != 0 && at >= from {
			out = append(out, math.Float64frombits(r.slots[i].seconds.Load()))
		}
	}
	return out
}

// observe counts one answered request. local answers (the gateway's own
// 503 or 413) count but are not timed as the backend's.
func (rm *routeMetrics) observe(code int, start time.Time, local bool) {
	if code <= 0 || code >= len(rm.codes) {
		code = 0
	}
	c := rm.codes[code].Load()
	if c == nil {
		counter := rm.requests.WithLabelValues(rm.labels[0], rm.labels[1], rm.labels[2], strconv.Itoa(code))
		rm.codes[code].Store(&counter)
		c = &counter
	}
	(*c).Inc()
	rm.total.Add(1)
	if code >= 500 {
		rm.errors.Add(1)
	}
	if !local {
		now := time.Now()
		d := now.Sub(start)
		rm.duration.Observe(d.Seconds())
		rm.samples.add(now, d)
		rm.perSecond.add(now, code, d)
	}
}

// BackendStats are one backend's answers on one route since the gateway
// started: the counters analysis compares.
type BackendStats struct {
	Requests int64
	Errors   int64 // 5xx, the gateway's own included
}

// Stats returns the counters of a route's backend.
func (m *Metrics) Stats(route, backend string) BackendStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out BackendStats
	for key, rm := range m.series {
		if key[0] == route && key[1] == backend {
			out.Requests += rm.total.Load()
			out.Errors += rm.errors.Load()
		}
	}
	return out
}

// Latencies returns the latency samples, in seconds, of a route's backend
// taken since t; at most the latest few thousand.
func (m *Metrics) Latencies(route, backend string, t time.Time) []float64 {
	m.mu.Lock()
	var rms []*routeMetrics
	for key, rm := range m.series {
		if key[0] == route && key[1] == backend {
			rms = append(rms, rm)
		}
	}
	m.mu.Unlock()
	var out []float64
	for _, rm := range rms {
		out = append(out, rm.samples.since(t)...)
	}
	return out
}

// setTable publishes the gauges that describe a table: effective weights
// and endpoint health. Series of routes and endpoints no longer there are
// deleted; the others are overwritten in place.
func (m *Metrics) setTable(t *Table, now int64) {
	m.tableMu.Lock()
	defer m.tableMu.Unlock()
	weights := map[[2]string]bool{}
	for _, rt := range t.routes {
		p := rt.plan.Load()
		for i, b := range rt.backends {
			w := 0.0
			w = p.Share(i)
			m.weight.WithLabelValues(rt.name, b.Name).Set(w)
			weights[[2]string{rt.name, b.Name}] = true
		}
	}
	healthy := map[[2]string]bool{}
	for _, b := range t.backends {
		for _, e := range b.Endpoints {
			v := 0.0
			if e.Available(now) {
				v = 1
			}
			m.healthy.WithLabelValues(b.Name, e.Addr).Set(v)
			healthy[[2]string{b.Name, e.Addr}] = true
		}
	}
	for k := range m.weightSeries {
		if !weights[k] {
			m.weight.DeleteLabelValues(k[0], k[1])
		}
	}
	for k := range m.healthySeries {
		if !healthy[k] {
			m.healthy.DeleteLabelValues(k[0], k[1])
		}
	}
	m.weightSeries, m.healthySeries = weights, healthy
}

// statusLabel is a status code as a label value, without allocating for
// the common ones.
func statusLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 404:
		return "404"
	case 500:
		return "500"
	case 502:
		return "502"
	case 503:
		return "503"
	}
	return strconv.Itoa(code)
}

// mirror is the mirrors' part of the metrics.
func (m *Metrics) mirror() mirror.Metrics {
	return mirror.Metrics{Requests: m.mirrorRequests, Dropped: m.mirrorDropped, Diffs: m.mirrorDiffs}
}

// MirrorDiffs returns how many mirrored answers of route compared as each
// kind (same, status, headers, body, error).
func (m *Metrics) MirrorDiffs(route string) map[string]float64 {
	out := map[string]float64{}
	families, err := m.Registry.Gather()
	if err != nil {
		return out
	}
	for _, f := range families {
		if f.GetName() != "cutover_mirror_diff_total" {
			continue
		}
		for _, metric := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route {
				out[labels["kind"]] += metric.GetCounter().GetValue()
			}
		}
	}
	return out
}

// panicked is the report of a panic recovered in a background loop: logged
// with its stack and counted, while the loop goes on.
func (m *Metrics) panicked(log *slog.Logger, name string) loop.PanicFunc {
	return func(v any, stack []byte) {
		m.panics.WithLabelValues(name).Inc()
		log.Error("background loop panicked; it goes on", "loop", name, "panic", v, "stack", string(stack))
	}
}
