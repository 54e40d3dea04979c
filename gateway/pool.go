package gateway

import (
	"log/slog"
	"sync"
	"time"

	"github.com/cutover-dev/cutover/gateway/mirror"
	"github.com/cutover-dev/cutover/gateway/routing"
	"github.com/cutover-dev/cutover/gateway/upstream"
	"github.com/cutover-dev/cutover/internal/loop"
	"github.com/cutover-dev/cutover/ratelimit"
	"github.com/cutover-dev/cutover/ratelimit/global"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/state"
)

// Pool owns what outlives a routing table: the upstream side (endpoints,
// health, breakers, clients), the mirrors' diff logs, rate-limit state and
// rate-limit service clients. A reload compiles a new table against the
// same pool, so all of them carry over.
type Pool struct {
	upstream *upstream.Pool

	mu         sync.Mutex                 // guards the maps below
	diffs      map[string]*mirror.DiffLog // by route
	rlsClients global.Clients
	// limiters keep rate-limit state across reloads, by route, name and
	// settings; limitersUsed marks those the last compile used.
	limiters     map[string]*ratelimit.Limiter
	limitersUsed map[string]bool
}

func newPool(log *slog.Logger, m *Metrics, onHealthChange func()) *Pool {
	um := upstream.Metrics{
		Ejections: m.ejections,
		Overflow:  m.overflow,
		Panicked:  func(name string) loop.PanicFunc { return m.panicked(log, name) },
	}
	return &Pool{
		upstream:     upstream.NewPool(log, um, onHealthChange),
		diffs:        map[string]*mirror.DiffLog{},
		rlsClients:   global.Clients{},
		limiters:     map[string]*ratelimit.Limiter{},
		limitersUsed: map[string]bool{},
	}
}

// compile builds a routing table from a validated config. runtime holds the
// weights set through the admin API or a plan; those that no longer fit
// their route are left out and returned in dropped.
func (p *Pool) compile(cfg *spec.Config, runtime map[string]state.RouteWeights, managed map[string][]ManagedRoute, gen uint64, m *Metrics) (t *Table, dropped, droppedManaged []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	t = &Table{Generation: gen, Config: cfg, LoadedAt: now}
	byName := map[string]*upstream.Backend{}
	var trusted trustedProxies
	for _, s := range cfg.Gateway.Spec.TrustedProxies {
		pfx, _ := spec.ParsePrefix(s) // validated
		trusted = append(trusted, pfx.Masked())
	}
	t.trusted = trusted
	t.preserveRequestID = cfg.Gateway.Spec.PreserveExternalRequestID
	p.limitersUsed = map[string]bool{}
	for _, b := range p.upstream.Backends(cfg) {
		byName[b.Name] = b
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
				c.globals = append(c.globals, global.New(sr.Name, rl, p.rlsClients.For(rl.Global.Service), m.ratelimits))
				continue
			}
			c.limits = append(c.limits, compileRateLimit(sr.Name, rl, p.limiterFor(sr.Name, rl), m))
		}
		if sm := sr.Mirror; sm != nil {
			c.mirror = mirror.New(sr.Name, sm, byName[sm.Backend], p.diffLogFor(sr.Name, sm.Compare), m.mirror())
		}
		if sr.Sticky != nil && sr.Sticky.Cookie != nil {
			c.cookieMaxAge = int(sr.Sticky.Cookie.MaxAge.D() / time.Second)
		}
		c.matcher = routing.NewMatcher(sr.Hosts, sr.Match)
		for _, rb := range sr.Backends {
			b := byName[rb.Name]
			c.backends = append(c.backends, b)
			c.weights = append(c.weights, *rb.Weight)
			c.metrics = append(c.metrics, m.forRoute(sr.Name, b.Name, b.Version))
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

// diffLogFor returns a route's log of differing mirrored answers, kept
// across reloads. Called with p.mu held.
func (p *Pool) diffLogFor(route string, c *spec.Compare) *mirror.DiffLog {
	keep := spec.DefaultMirrorKeep
	if c != nil {
		keep = c.Keep
	}
	l, ok := p.diffs[route]
	if !ok {
		l = &mirror.DiffLog{}
		p.diffs[route] = l
	}
	l.SetKeep(keep)
	return l
}

// Diffs returns the last differing mirrored answers of a route.
func (p *Pool) Diffs(route string) []mirror.Diff {
	p.mu.Lock()
	l := p.diffs[route]
	p.mu.Unlock()
	if l == nil {
		return nil
	}
	return l.List()
}
