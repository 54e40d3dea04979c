package gatewayrouter

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cutover-dev/cutover/admin/wire"
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
	return r.gw.SetManagedRoute(r.route, wire.HeaderRoute(hr, r.canary), r.Actor, "setHeaderRoute "+hr.Name)
}

// SetMirrorRoute implements traffic.Router.
func (r *Router) SetMirrorRoute(ctx context.Context, mr *spec.SetMirrorRoute) error {
	return r.gw.SetManagedRoute(r.route, wire.MirrorRoute(mr, r.canary), r.Actor, "setMirrorRoute "+mr.Name)
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
