package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cutover-dev/cutover/internal/loop"
	"github.com/cutover-dev/cutover/spec"
)

// Metrics are the series the upstream side counts, registered by the
// gateway.
type Metrics struct {
	// Ejections by backend and the counter that reached its threshold.
	Ejections *prometheus.CounterVec
	// Overflow by backend and the breaker limit that refused.
	Overflow *prometheus.CounterVec
	// Panicked reports a panic recovered in a background loop.
	Panicked func(loop string) loop.PanicFunc
}

// Pool owns what outlives a config: endpoint state keyed by address, one
// keep-alive client per backend, circuit breakers and the active health
// checkers. A reload builds new Backends from the same pool, so health,
// slow-start progress, breaker counts and idle connections carry over.
type Pool struct {
	log     *slog.Logger
	metrics Metrics
	// onHealthChange is called after any endpoint changes availability.
	onHealthChange func()

	ejectMu sync.Mutex // serialises ejections, for maxEjectionPercent

	mu         sync.Mutex // guards the maps below
	endpoints  map[string]*Endpoint
	transports map[string]*transportEntry // by backend name
	checkers   map[string]*checker        // by endpoint address
	breakers   map[string]*Breaker        // by backend and thresholds
}

type transportEntry struct {
	key string // the settings it was built with
	t   *h1Transport
}

// NewPool returns an empty pool; onHealthChange is told of every change of
// an endpoint's availability.
func NewPool(log *slog.Logger, m Metrics, onHealthChange func()) *Pool {
	return &Pool{
		log:            log,
		metrics:        m,
		onHealthChange: onHealthChange,
		endpoints:      map[string]*Endpoint{},
		transports:     map[string]*transportEntry{},
		checkers:       map[string]*checker{},
		breakers:       map[string]*Breaker{},
	}
}

// Backends builds the backends of a validated config, reusing the
// endpoints, clients and breakers that stay.
func (p *Pool) Backends(cfg *spec.Config) []*Backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	// Endpoints known at startup are all equally new; ramping them together
	// would change nothing but make the first minutes look odd in status.
	initial := len(p.endpoints) == 0
	var out []*Backend
	for i := range cfg.Gateway.Spec.Backends {
		sb := &cfg.Gateway.Spec.Backends[i]
		b := &Backend{
			Name:      sb.Name,
			Version:   sb.Version,
			FailOpen:  sb.FailOpen,
			SlowStart: sb.SlowStart,
			outlier:   compileOutlier(sb.Passive),
			Transport: p.transportFor(sb),
			Breaker:   p.breakerFor(sb),
		}
		for _, addr := range sb.Endpoints {
			e, ok := p.endpoints[addr]
			if !ok {
				e = newEndpoint(addr, now)
				if sb.HealthCheck != nil {
					e.active.Store(checkUnknown)
				}
				if initial {
					e.readySince.Store(0)
				}
				p.endpoints[addr] = e
			}
			b.Endpoints = append(b.Endpoints, e)
		}
		out = append(out, b)
	}
	return out
}

// transportFor returns the backend's transport, reusing the one it had if
// its settings did not change, so keep-alive connections survive a reload.
// Called with p.mu held.
func (p *Pool) transportFor(b *spec.Backend) *h1Transport {
	// Envoy's maxConnections is per backend; the transport's bound is per
	// endpoint, so it is shared out.
	perHost := (b.CircuitBreaker.MaxConnections + len(b.Endpoints) - 1) / len(b.Endpoints)
	key := fmt.Sprintf("%d/%d/%d/%s", b.DialTimeout, b.MaxIdleConnsPerHost, perHost, b.Client)
	if e, ok := p.transports[b.Name]; ok && e.key == key {
		return e.t
	}
	dialer := &net.Dialer{Timeout: b.DialTimeout.D(), KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                  nil, // upstreams come only from config, never from the environment
		DialContext:            dialer.DialContext,
		MaxIdleConns:           0,
		MaxIdleConnsPerHost:    b.MaxIdleConnsPerHost,
		MaxConnsPerHost:        perHost,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  HeaderTimeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		ExpectContinueTimeout:  time.Second,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
	}
	h1 := newH1Transport(b.DialTimeout.D(), b.MaxIdleConnsPerHost, t)
	h1.fallbackAll = b.Client == spec.ClientStandard
	if old, ok := p.transports[b.Name]; ok {
		// Requests in flight keep their connections; only idle ones close.
		old.t.CloseIdleConnections()
	}
	p.transports[b.Name] = &transportEntry{key: key, t: h1}
	return h1
}

// HeaderTimeout bounds the wait for an upstream's response headers,
// as nginx's proxy_read_timeout does (60 s). A route's own timeout, when
// set, bounds the whole exchange.
const HeaderTimeout = 60 * time.Second

// Retain forgets endpoints, clients and checkers that cfg no longer uses,
// and starts health checkers for the endpoints it added; they run until ctx
// ends or Stop.
func (p *Pool) Retain(ctx context.Context, cfg *spec.Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	usedEP := map[string]bool{}
	usedBackend := map[string]bool{}
	want := map[string]*spec.HealthCheck{}
	for i := range cfg.Gateway.Spec.Backends {
		sb := &cfg.Gateway.Spec.Backends[i]
		usedBackend[sb.Name] = true
		for _, addr := range sb.Endpoints {
			usedEP[addr] = true
			if _, ok := want[addr]; !ok || want[addr] == nil {
				want[addr] = sb.HealthCheck
			}
		}
	}
	for addr := range p.endpoints {
		if !usedEP[addr] {
			delete(p.endpoints, addr)
		}
	}
	for name, e := range p.transports {
		if !usedBackend[name] {
			e.t.CloseIdleConnections()
			delete(p.transports, name)
		}
	}
	for addr, c := range p.checkers {
		hc := want[addr]
		if hc == nil || c.key != checkKey(hc) {
			c.stop()
			delete(p.checkers, addr)
		}
	}
	for addr, hc := range want {
		e := p.endpoints[addr]
		if hc == nil {
			// Without active checks, an endpoint is up unless ejected.
			p.setActive(e, checkUp, "active health check removed")
			continue
		}
		if _, running := p.checkers[addr]; !running {
			p.checkers[addr] = p.startChecker(ctx, e, *hc)
		}
	}
}

// Stop ends every health checker.
func (p *Pool) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, c := range p.checkers {
		c.stop()
		delete(p.checkers, addr)
	}
}

// setActive records an active health verdict, logging and notifying only on
// a transition.
func (p *Pool) setActive(e *Endpoint, v int32, why string) {
	old := e.active.Swap(v)
	if old == v {
		return
	}
	switch v {
	case checkUp:
		e.readySince.Store(time.Now().UnixNano())
		p.log.Info("endpoint is healthy", "endpoint", e.Addr, "reason", why)
	case checkDown:
		p.log.Warn("endpoint is unhealthy", "endpoint", e.Addr, "reason", why)
	}
	p.onHealthChange()
}

// breakerFor returns the backend's circuit breaker, keeping its counts
// across reloads while its thresholds stay. Called with p.mu held.
func (p *Pool) breakerFor(b *spec.Backend) *Breaker {
	key := fmt.Sprintf("%s/%+v", b.Name, *b.CircuitBreaker)
	if br, ok := p.breakers[key]; ok {
		return br
	}
	br := newBreaker(b.Name, b.CircuitBreaker, p.metrics.Overflow)
	p.breakers[key] = br
	return br
}
