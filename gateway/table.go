package gateway

import (
	"math/bits"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

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
	backends []*backend
	trusted  trustedProxies
	// preserveRequestID keeps an untrusted client's X-Request-Id.
	preserveRequestID bool
}

// backend is a compiled spec.Backend. Its endpoints are shared with the Pool.
type backend struct {
	name, version string
	endpoints     []*Endpoint
	failOpen      bool
	slowStart     *spec.SlowStart
	outlier       outlierPolicy
	transport     http.RoundTripper
	breaker       *breaker
	rr            atomic.Uint64
}

// usable reports whether the backend can take a request at now.
func (b *backend) usable(now int64) bool {
	if b.failOpen {
		return true
	}
	for _, e := range b.endpoints {
		if e.Available(now) {
			return true
		}
	}
	return false
}

// untested reports whether one of the backend's endpoints waits for its
// first active check: a last resort when no backend of a route is usable.
func (b *backend) untested(now int64) bool {
	for _, e := range b.endpoints {
		if e.untested(now) {
			return true
		}
	}
	return false
}

// pickEndpoint returns the index of an endpoint not in tried, or -1.
// Available endpoints share requests round robin, or by slow-start weight
// while one of them is ramping up. When none is available, endpoints not
// yet checked are tried, then, with failOpen, every endpoint.
func (b *backend) pickEndpoint(now int64, tried *indexSet) int {
	n := len(b.endpoints)
	count, total, ramping := 0, 0.0, false
	for i, e := range b.endpoints {
		if tried.has(i) || !e.Available(now) {
			continue
		}
		count++
		f := rampFactor(b.slowStart, e.readySince.Load(), now)
		if f < 1 {
			ramping = true
		}
		total += f
	}
	if count == 0 {
		start := int(b.rr.Add(1) % uint64(n))
		for k := range n {
			if i := (start + k) % n; !tried.has(i) && b.endpoints[i].untested(now) {
				return i
			}
		}
		if !b.failOpen {
			return -1
		}
		// Fail open: try every endpoint, as an ALB does with an all-unhealthy target group.
		for k := range n {
			if i := (start + k) % n; !tried.has(i) {
				return i
			}
		}
		return -1
	}
	if !ramping {
		start := int(b.rr.Add(1) % uint64(n))
		for k := range n {
			i := (start + k) % n
			if !tried.has(i) && b.endpoints[i].Available(now) {
				return i
			}
		}
		return -1
	}
	x := rand.Float64() * total
	last := -1
	for i, e := range b.endpoints {
		if tried.has(i) || !e.Available(now) {
			continue
		}
		last = i
		if x -= rampFactor(b.slowStart, e.readySince.Load(), now); x < 0 {
			return i
		}
	}
	return last
}

// indexSet is a set of endpoint or backend indices, such as those one
// request tried. The first 64 need no allocation; a backend behind an ALB
// or in Kubernetes may have hundreds of endpoints.
type indexSet struct {
	low  uint64
	high []uint64
}

func (s *indexSet) has(i int) bool {
	if i < 64 {
		return s.low&(1<<i) != 0
	}
	w := i/64 - 1
	return w < len(s.high) && s.high[w]&(1<<(i%64)) != 0
}

func (s *indexSet) add(i int) {
	if i < 64 {
		s.low |= 1 << i
		return
	}
	w := i/64 - 1
	for len(s.high) <= w {
		s.high = append(s.high, 0)
	}
	s.high[w] |= 1 << (i % 64)
}

// len is the number of indices in the set.
func (s *indexSet) len() int {
	n := bits.OnesCount64(s.low)
	for _, w := range s.high {
		n += bits.OnesCount64(w)
	}
	return n
}

func (s *indexSet) reset() {
	s.low = 0
	for i := range s.high {
		s.high[i] = 0
	}
}

// routeConfig is the immutable part of a route.
type routeConfig struct {
	name     string
	hosts    []string
	matches  []requestMatcher
	backends []*backend
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
	mirror       *mirror
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
		usable[i] = b.usable(now)
		anyUsable = anyUsable || usable[i]
	}
	if !anyUsable {
		// Nothing proven healthy: endpoints still waiting for their first
		// check are better than no answer at all.
		for i, b := range rt.backends {
			usable[i] = b.untested(now)
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
