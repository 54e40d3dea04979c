package gateway

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/cutover-dev/cutover/gateway/mirror"
	"github.com/cutover-dev/cutover/gateway/upstream"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/state"
)

// Buckets is the number of sticky buckets a route's clients are spread over.
const Buckets = 10000

// Table is one immutable routing snapshot. Requests read it through an
// atomic pointer; reloads and weight changes build a new one and swap it.
// Only the per-route plan (weights after health) is replaced in place, when
// endpoint health changes.
type Table struct {
	Generation uint64
	Config     *spec.Config
	LoadedAt   time.Time

	routes   []*route
	backends []*upstream.Backend
	trusted  trustedProxies
	// preserveRequestID keeps an untrusted client's X-Request-Id.
	preserveRequestID bool
}

// routeConfig is the immutable part of a route.
type routeConfig struct {
	name     string
	hosts    []string
	matches  []requestMatcher
	backends []*upstream.Backend
	// weights are the set weights, from the config or from runtime state,
	// in backend order. They add up to 100.
	weights      []int
	runtime      bool
	sticky       *spec.Stickiness
	drain        bool
	timeout      time.Duration
	cookieMaxAge int
	metrics      []*routeMetrics // per backend
	// localMetrics count answers the gateway gives itself (no healthy
	// upstream, body too large) before a backend is chosen.
	localMetrics *routeMetrics
	limits       []*routeLimiter
	globals      []*globalLimiter // after the local limits
	trusted      trustedProxies
	mirror       *mirror.Mirror
	retry        *retryPolicy
	maxBody      int64 // 0: the gateway's limit
	upgrades     []string
	// parent is the config route a plan's mirror route copies; weight
	// changes to the parent apply to it too.
	parent string
}

type route struct {
	routeConfig
	counter atomic.Uint64
	plan    atomic.Pointer[routePlan]
}

func newRoute(c routeConfig, now int64) *route {
	rt := &route{routeConfig: c}
	rt.plan.Store(rt.computePlan(now))
	return rt
}

// routePlan is a route's split after health: which backend each position of
// the round robin schedule takes, and the sticky bucket ranges.
type routePlan struct {
	effective []int
	usable    []bool
	total     int
	schedule  []uint16
	bounds    []int // bounds[i] is the first bucket after backend i's range
}

// computePlan applies health to the set weights. A backend that cannot
// take requests gives its share to the route's other backends in proportion.
// When only backends set to 0 remain usable, they share equally, so that a
// client is still served.
func (rt *route) computePlan(now int64) *routePlan {
	n := len(rt.backends)
	p := &routePlan{effective: make([]int, n), bounds: make([]int, n)}
	usable := make([]bool, n)
	p.usable = usable
	anyUsable := false
	for i, b := range rt.backends {
		usable[i] = b.Usable(now)
		anyUsable = anyUsable || usable[i]
	}
	if !anyUsable {
		// Nothing proven healthy: endpoints still waiting for their first
		// check are better than no answer at all.
		for i, b := range rt.backends {
			usable[i] = b.Untested(now)
			anyUsable = anyUsable || usable[i]
		}
	}
	for i := range rt.backends {
		if usable[i] {
			p.effective[i] = rt.weights[i]
			p.total += rt.weights[i]
		}
	}
	if p.total == 0 && anyUsable {
		for i := range n {
			if usable[i] {
				p.effective[i] = 1
				p.total++
			}
		}
	}
	if p.total == 0 {
		return p
	}
	cum := 0
	for i, w := range p.effective {
		cum += w
		p.bounds[i] = cum * Buckets / p.total
	}
	p.schedule = smoothSchedule(p.effective)
	return p
}

func (p *routePlan) equal(q *routePlan) bool {
	return slices.Equal(p.effective, q.effective)
}

// smoothSchedule is nginx's smooth weighted round robin, computed once over
// the weights divided by their greatest common divisor: over any cycle the
// split is exact, and picks of a backend are spread evenly within it.
func smoothSchedule(weights []int) []uint16 {
	g := 0
	for _, w := range weights {
		g = gcd(g, w)
	}
	total := 0
	w := make([]int, len(weights))
	for i, x := range weights {
		w[i] = x / g
		total += w[i]
	}
	current := make([]int, len(w))
	out := make([]uint16, 0, total)
	for range total {
		best := -1
		for i := range w {
			current[i] += w[i]
			if w[i] > 0 && (best < 0 || current[i] > current[best]) {
				best = i
			}
		}
		current[best] -= total
		out = append(out, uint16(best))
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// refresh recomputes every route's plan after a health change. It reports
// whether any split changed.
func (t *Table) refresh(now int64) bool {
	changed := false
	for _, rt := range t.routes {
		p := rt.computePlan(now)
		if !p.equal(rt.plan.Load()) {
			rt.plan.Store(p)
			changed = true
		}
	}
	return changed
}

// routeByName returns the named route, or nil.
func (t *Table) routeByName(name string) *route {
	for _, rt := range t.routes {
		if rt.name == name {
			return rt
		}
	}
	return nil
}

// withWeights returns a copy of t in which the named route has new set
// weights. Everything else is shared.
func (t *Table) withWeights(name string, weights []int, runtime bool, now int64) *Table {
	nt := *t
	nt.routes = slices.Clone(t.routes)
	for i, rt := range nt.routes {
		if rt.name == name || rt.parent == name {
			c := rt.routeConfig
			c.weights = weights
			c.runtime = runtime
			nt.routes[i] = newRoute(c, now)
		}
	}
	return &nt
}

// runtimeWeightsFor returns a route's runtime weights in backend order if they
// still fit the route's backends.
func runtimeWeightsFor(r *spec.Route, rw state.RouteWeights) ([]int, bool) {
	if len(rw.Backends) != len(r.Backends) {
		return nil, false
	}
	out := make([]int, len(r.Backends))
	for i, b := range r.Backends {
		if rw.Backends[i] != b.Name {
			return nil, false
		}
		out[i] = rw.Weights[b.Name]
	}
	return out, true
}
