package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/cutover-dev/cutover/ratelimit"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/state"
)

// Pool owns what outlives a routing table: endpoint state keyed by address,
// one keep-alive transport per backend, and the active health checkers. A
// reload compiles a new table against the same pool, so health, slow-start
// progress and idle connections carry over.
type Pool struct {
	log     *slog.Logger
	metrics *Metrics
	// onHealthChange is called after any endpoint changes availability.
	onHealthChange func()

	ejectMu sync.Mutex // serialises ejections, for maxEjectionPercent

	mu         sync.Mutex // guards the maps below
	endpoints  map[string]*Endpoint
	transports map[string]*transportEntry // by backend name
	checkers   map[string]*checker        // by endpoint address
	diffs      map[string]*diffLog        // by route
	breakers   map[string]*breaker        // by backend and thresholds
	rlsClients map[string]rlsv3.RateLimitServiceClient
	// limiters keep rate-limit state across reloads, by route, name and
	// settings; limitersUsed marks those the last compile used.
	limiters     map[string]*ratelimit.Limiter
	limitersUsed map[string]bool
}

type transportEntry struct {
	key string // the settings it was built with
	t   *h1Transport
}

func newPool(log *slog.Logger, m *Metrics, onHealthChange func()) *Pool {
	return &Pool{
		log:            log,
		metrics:        m,
		onHealthChange: onHealthChange,
		endpoints:      map[string]*Endpoint{},
		transports:     map[string]*transportEntry{},
		checkers:       map[string]*checker{},
		diffs:          map[string]*diffLog{},
		breakers:       map[string]*breaker{},
		rlsClients:     map[string]rlsv3.RateLimitServiceClient{},
		limiters:       map[string]*ratelimit.Limiter{},
		limitersUsed:   map[string]bool{},
	}
}

// compile builds a routing table from a validated config. runtime holds the
// weights set through the admin API or a plan; those that no longer fit
// their route are left out and returned in dropped.
func (p *Pool) compile(cfg *spec.Config, runtime map[string]state.RouteWeights, managed map[string][]ManagedRoute, gen uint64, m *Metrics) (t *Table, dropped, droppedManaged []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	// Endpoints known at startup are all equally new; ramping them together
	// would change nothing but make the first minutes look odd in status.
	initial := len(p.endpoints) == 0
	t = &Table{Generation: gen, Config: cfg, LoadedAt: now}
	byName := map[string]*backend{}
	var trusted trustedProxies
	for _, s := range cfg.Gateway.Spec.TrustedProxies {
		pfx, _ := spec.ParsePrefix(s) // validated
		trusted = append(trusted, pfx.Masked())
	}
	t.trusted = trusted
	t.preserveRequestID = cfg.Gateway.Spec.PreserveExternalRequestID
	p.limitersUsed = map[string]bool{}
	for i := range cfg.Gateway.Spec.Backends {
		sb := &cfg.Gateway.Spec.Backends[i]
		b := &backend{
			name:      sb.Name,
			version:   sb.Version,
			failOpen:  sb.FailOpen,
			slowStart: sb.SlowStart,
			outlier:   compileOutlier(sb.Passive),
			transport: p.transportFor(sb),
			breaker:   p.breakerFor(sb, m),
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
			b.endpoints = append(b.endpoints, e)
		}
		byName[b.name] = b
		t.backends = append(t.backends, b)
	}
	for i := range cfg.Gateway.Spec.Routes {
		sr := &cfg.Gateway.Spec.Routes[i]
		c := routeConfig{
			name:     sr.Name,
			hosts:    sr.Hosts,
			sticky:   sr.Sticky,
			drain:    sr.Drain,
			timeout:  sr.Timeout.D(),
			retry:    compileRetries(sr.Retries),
			maxBody:  sr.MaxBodyBytes,
			upgrades: sr.Upgrades,

			localMetrics: m.forRoute(sr.Name, "", ""),
			trusted:      trusted,
		}
		for j := range sr.RateLimits {
			rl := &sr.RateLimits[j]
			if rl.Global != nil {
				c.globals = append(c.globals, compileGlobal(sr.Name, rl, p.clientFor(rl.Global.Service), m))
				continue
			}
			c.limits = append(c.limits, compileRateLimit(sr.Name, rl, p.limiterFor(sr.Name, rl), m))
		}
		if sm := sr.Mirror; sm != nil {
			c.mirror = newMirror(sr.Name, sm, byName[sm.Backend], p.diffLogFor(sr.Name, sm.Compare), m)
		}
		if sr.Sticky != nil && sr.Sticky.Cookie != nil {
			c.cookieMaxAge = int(sr.Sticky.Cookie.MaxAge.D() / time.Second)
		}
		for _, m := range sr.Match {
			c.matches = append(c.matches, compileMatch(m))
		}
		for _, rb := range sr.Backends {
			b := byName[rb.Name]
			c.backends = append(c.backends, b)
			c.weights = append(c.weights, *rb.Weight)
			c.metrics = append(c.metrics, m.forRoute(sr.Name, b.name, b.version))
		}
		if rw, ok := runtime[sr.Name]; ok {
			if w, fits := runtimeWeightsFor(sr, rw); fits {
				c.weights, c.runtime = w, true
			} else {
				dropped = append(dropped, sr.Name)
			}
		}
		// A plan's routes go in front of their parent and share its limits.
		if mrs := managed[sr.Name]; len(mrs) > 0 {
			if !managedFits(sr, mrs) {
				droppedManaged = append(droppedManaged, sr.Name)
			} else {
				for _, mr := range mrs {
					var mc routeConfig
					if mr.MirrorPercent > 0 {
						mc = mirrorRouteConfig(c, mr, byName[mr.Backend], p.diffLogFor(mr.Name, nil), m)
					} else {
						mc = managedRouteConfig(sr, mr, byName[mr.Backend], m)
						mc.limits, mc.globals, mc.trusted = c.limits, c.globals, c.trusted
					}
					t.routes = append(t.routes, newRoute(mc, now.UnixNano()))
				}
			}
		}
		t.routes = append(t.routes, newRoute(c, now.UnixNano()))
	}
	for key := range p.limiters {
		if !p.limitersUsed[key] {
			delete(p.limiters, key)
		}
	}
	return t, dropped, droppedManaged
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
		ResponseHeaderTimeout:  upstreamHeaderTimeout,
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

// upstreamHeaderTimeout bounds the wait for an upstream's response headers,
// as nginx's proxy_read_timeout does (60 s). A route's own timeout, when
// set, bounds the whole exchange.
const upstreamHeaderTimeout = 60 * time.Second

// retain forgets endpoints, transports and checkers that t no longer uses,
// and starts health checkers for the endpoints it added.
func (p *Pool) retain(ctx context.Context, t *Table) {
	p.mu.Lock()
	defer p.mu.Unlock()
	usedEP := map[string]bool{}
	usedBackend := map[string]bool{}
	want := map[string]*spec.HealthCheck{}
	for i := range t.Config.Gateway.Spec.Backends {
		sb := &t.Config.Gateway.Spec.Backends[i]
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

// stop ends every health checker.
func (p *Pool) stop() {
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

// diffLogFor returns a route's log of differing mirrored answers, kept
// across reloads. Called with p.mu held.
func (p *Pool) diffLogFor(route string, c *spec.Compare) *diffLog {
	keep := spec.DefaultMirrorKeep
	if c != nil {
		keep = c.Keep
	}
	l, ok := p.diffs[route]
	if !ok {
		l = &diffLog{}
		p.diffs[route] = l
	}
	l.mu.Lock()
	l.keep = keep
	l.mu.Unlock()
	return l
}

// Diffs returns the last differing mirrored answers of a route.
func (p *Pool) Diffs(route string) []Diff {
	p.mu.Lock()
	l := p.diffs[route]
	p.mu.Unlock()
	if l == nil {
		return nil
	}
	return l.list()
}

// breakerFor returns the backend's circuit breaker, keeping its counts
// across reloads while its thresholds stay. Called with p.mu held.
func (p *Pool) breakerFor(b *spec.Backend, m *Metrics) *breaker {
	key := fmt.Sprintf("%s/%+v", b.Name, *b.CircuitBreaker)
	if br, ok := p.breakers[key]; ok {
		return br
	}
	br := newBreaker(b.Name, b.CircuitBreaker, m)
	p.breakers[key] = br
	return br
}
