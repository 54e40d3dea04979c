package gateway

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the gateway's Prometheus series, in a registry of its own.
type Metrics struct {
	Registry *prometheus.Registry

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	healthy  *prometheus.GaugeVec
	weight   *prometheus.GaugeVec
	reloads  *prometheus.CounterVec
	reloadOK prometheus.Gauge
	unrouted prometheus.Counter
}

func newMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
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
	}
	m.Registry.MustRegister(m.requests, m.duration, m.healthy, m.weight, m.reloads, m.reloadOK, m.unrouted,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	m.reloadOK.Set(1)
	return m
}

// routeMetrics are one route and backend's series, resolved once per table
// so that a request only indexes an array.
type routeMetrics struct {
	labels   [3]string
	requests *prometheus.CounterVec
	duration prometheus.Observer
	codes    [600]atomic.Pointer[prometheus.Counter]
}

func (m *Metrics) forRoute(route, backend, version string) *routeMetrics {
	return &routeMetrics{
		labels:   [3]string{route, backend, version},
		requests: m.requests,
		duration: m.duration.WithLabelValues(route, backend, version),
	}
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
	if !local {
		rm.duration.Observe(time.Since(start).Seconds())
	}
}

// setTable publishes the gauges that describe a table: effective weights
// and endpoint health.
func (m *Metrics) setTable(t *Table, now int64) {
	m.weight.Reset()
	for _, rt := range t.routes {
		p := rt.plan.Load()
		for i, b := range rt.backends {
			w := 0.0
			if p.total > 0 {
				w = float64(p.effective[i]) * 100 / float64(p.total)
			}
			m.weight.WithLabelValues(rt.name, b.name).Set(w)
		}
	}
	m.healthy.Reset()
	for _, b := range t.backends {
		for _, e := range b.endpoints {
			v := 0.0
			if e.Available(now) {
				v = 1
			}
			m.healthy.WithLabelValues(b.name, e.Addr).Set(v)
		}
	}
}
