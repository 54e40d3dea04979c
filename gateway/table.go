package gateway

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/cutover-dev/cutover/gateway/mirror"
	"github.com/cutover-dev/cutover/gateway/routing"
	"github.com/cutover-dev/cutover/gateway/upstream"
	"github.com/cutover-dev/cutover/ratelimit/global"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/state"
)

// Buckets is the number of sticky buckets a route's clients are spread over.
const Buckets = routing.Buckets

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
	matcher  routing.Matcher
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
	globals      []*global.Limiter // after the local limits
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
	// fast: the fast server serves the route's requests itself.
	fast    bool
	counter atomic.Uint64
	plan    atomic.Pointer[routing.Split]
}

func newRoute(c routeConfig, now int64) *route {
	rt := &route{routeConfig: c, fast: c.fastServable()}
	rt.plan.Store(rt.computePlan(now))
	return rt
}

// computePlan applies the backends' health at now to the set weights.
// With nothing proven healthy, endpoints still waiting for their first
// check are better than no answer at all.
func (rt *route) computePlan(now int64) *routing.Split {
	usable := make([]bool, len(rt.backends))
	anyUsable := false
	for i, b := range rt.backends {
		usable[i] = b.Usable(now)
		anyUsable = anyUsable || usable[i]
	}
	if !anyUsable {
		for i, b := range rt.backends {
			usable[i] = b.Untested(now)
		}
	}
	return routing.NewSplit(rt.weights, usable)
}

// refresh recomputes every route's plan after a health change. It reports
// whether any split changed.
func (t *Table) refresh(now int64) bool {
	changed := false
	for _, rt := range t.routes {
		p := rt.computePlan(now)
		if !p.Equal(rt.plan.Load()) {
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
