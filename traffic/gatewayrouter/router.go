// Package gatewayrouter is the traffic.Router of the embedded gateway.
package gatewayrouter

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/analysis/stats"
	"github.com/cutover-dev/cutover/gateway"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/traffic"
)

// Type is the router's name in status and events.
const Type = "Gateway"

// Router drives one route of an in-process gateway.
type Router struct {
	gw             *gateway.Gateway
	route          string
	stable, canary string
	// Actor names the plan in the audit log.
	Actor string
}

// New returns a router for route, moving traffic between two of its backends.
func New(gw *gateway.Gateway, route, stable, canary, actor string) *Router {
	return &Router{gw: gw, route: route, stable: stable, canary: canary, Actor: actor}
}

// Type implements traffic.Router.
func (r *Router) Type() string { return Type }

// SetWeight implements traffic.Router.
func (r *Router) SetWeight(ctx context.Context, weight int) error {
	return r.gw.SetWeights(r.route, map[string]int{r.stable: 100 - weight, r.canary: weight}, r.Actor, fmt.Sprintf("setWeight %d", weight))
}

// VerifyWeight implements traffic.Router: it reads the set weights back.
func (r *Router) VerifyWeight(ctx context.Context, weight int) (*bool, error) {
	for _, rs := range r.gw.Status().Routes {
		if rs.Name != r.route {
			continue
		}
		ok := false
		for _, b := range rs.Backends {
			if b.Name == r.canary {
				ok = b.Weight == weight
			}
		}
		return &ok, nil
	}
	return nil, fmt.Errorf("route %q is gone", r.route)
}

// SetHeaderRoute implements traffic.Router.
func (r *Router) SetHeaderRoute(ctx context.Context, hr *spec.SetHeaderRoute) error {
	return r.gw.SetManagedRoute(r.route, ManagedRoute(hr, r.canary), r.Actor, "setHeaderRoute "+hr.Name)
}

// ManagedRoute is the gateway route that serves a setHeaderRoute step: what
// matches goes to backend. A step without matches gives a route without
// matches, which removes it.
func ManagedRoute(hr *spec.SetHeaderRoute, backend string) gateway.ManagedRoute {
	mr := gateway.ManagedRoute{Name: hr.Name, Backend: backend}
	if len(hr.Match) > 0 {
		var m spec.Match
		for _, hm := range hr.Match {
			if hm.HeaderName != "" {
				m.Headers = append(m.Headers, spec.KeyMatch{Name: hm.HeaderName, StringMatch: *hm.HeaderValue})
			} else {
				m.QueryParams = append(m.QueryParams, spec.KeyMatch{Name: hm.QueryParamName, StringMatch: *hm.QueryParamValue})
			}
		}
		// Argo ANDs the matches of one header route.
		mr.Match = []spec.Match{m}
	}
	return mr
}

// SetMirrorRoute implements traffic.Router.
func (r *Router) SetMirrorRoute(ctx context.Context, mr *spec.SetMirrorRoute) error {
	return r.gw.SetManagedRoute(r.route, MirrorRoute(mr, r.canary), r.Actor, "setMirrorRoute "+mr.Name)
}

// MirrorRoute is the gateway route that serves a setMirrorRoute step: what
// matches is served as before and a share of it copied to backend. A step
// without matches removes it.
func MirrorRoute(mr *spec.SetMirrorRoute, backend string) gateway.ManagedRoute {
	out := gateway.ManagedRoute{Name: mr.Name, Backend: backend, MirrorPercent: 100}
	if mr.Percentage != nil {
		out.MirrorPercent = *mr.Percentage
	}
	for _, m := range mr.Match {
		var g spec.Match
		if m.Path != nil {
			p := *m.Path
			g.Path = &p
		}
		if m.Method != nil && m.Method.Exact != nil {
			g.Method = *m.Method.Exact
		}
		for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
			g.Headers = append(g.Headers, spec.KeyMatch{Name: name, StringMatch: m.Headers[name]})
		}
		out.Match = append(out.Match, g)
	}
	return out
}

// RemoveManagedRoutes implements traffic.Router.
func (r *Router) RemoveManagedRoutes(ctx context.Context, keep ...string) error {
	return r.gw.RemoveManagedRoutes(r.route, r.Actor, "plan removed its routes", keep...)
}

// CanaryHealthy implements traffic.Health.
func (r *Router) CanaryHealthy(ctx context.Context) error {
	var down []string
	for _, b := range r.gw.Status().Backends {
		if b.Name != r.canary {
			continue
		}
		for _, e := range b.Endpoints {
			if !e.Healthy {
				down = append(down, e.Address)
			}
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("canary backend %q has unhealthy endpoints: %s", r.canary, strings.Join(down, ", "))
	}
	return nil
}

var (
	_ traffic.Router = (*Router)(nil)
	_ traffic.Health = (*Router)(nil)
)

// Source lets analysis read the gateway's per-backend counters and latency
// samples.
type Source struct{ GW *gateway.Gateway }

// Counts implements analysis.Source.
func (s Source) Counts(route, backend string) stats.Counts {
	st := s.GW.Metrics().Stats(route, backend)
	return stats.Counts{Requests: st.Requests, Errors: st.Errors}
}

// Latencies implements analysis.Source.
func (s Source) Latencies(route, backend string, since time.Time) []float64 {
	return s.GW.Metrics().Latencies(route, backend, since)
}

var _ analysis.Source = Source{}
