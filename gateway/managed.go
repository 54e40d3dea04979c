package gateway

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/cutover-dev/cutover/admin/wire"
	"github.com/cutover-dev/cutover/gateway/mirror"
	"github.com/cutover-dev/cutover/gateway/routing"
	"github.com/cutover-dev/cutover/gateway/upstream"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/state"
)

// ManagedRoute is a route a plan puts in front of a config route.
type ManagedRoute = wire.ManagedRoute

func managedFits(sr *spec.Route, mrs []ManagedRoute) bool {
	for _, mr := range mrs {
		if !slices.ContainsFunc(sr.Backends, func(b spec.RouteBackend) bool { return b.Name == mr.Backend }) {
			return false
		}
	}
	return true
}

func managedRouteConfig(parent *spec.Route, mr ManagedRoute, b *upstream.Backend, m *Metrics) routeConfig {
	c := routeConfig{
		name:         mr.Name,
		hosts:        parent.Hosts,
		timeout:      parent.Timeout.D(),
		retry:        compileRetries(parent.Retries),
		maxBody:      parent.MaxBodyBytes,
		upgrades:     parent.Upgrades,
		backends:     []*upstream.Backend{b},
		weights:      []int{100},
		runtime:      true,
		metrics:      []*routeMetrics{m.forRoute(mr.Name, b.Name, b.Version)},
		localMetrics: m.forRoute(mr.Name, "", ""),
		matcher:      routing.NewMatcher(parent.Hosts, mr.Match),
	}
	return c
}

// mirrorRouteConfig is a plan's mirror route: the parent's routing for the
// requests that match, plus a copy of a share of them to backend.
func mirrorRouteConfig(parent routeConfig, mr ManagedRoute, b *upstream.Backend, diffs *mirror.DiffLog, m *Metrics) routeConfig {
	c := parent
	c.name, c.parent = mr.Name, parent.name
	if len(mr.Match) > 0 {
		c.matcher = routing.NewMatcher(parent.hosts, mr.Match)
	}
	c.metrics = nil
	for _, pb := range parent.backends {
		c.metrics = append(c.metrics, m.forRoute(mr.Name, pb.Name, pb.Version))
	}
	c.localMetrics = m.forRoute(mr.Name, "", "")
	pct := mr.MirrorPercent
	c.mirror = mirror.New(mr.Name, &spec.Mirror{
		Backend: b.Name, Percent: &pct, Methods: []string{"GET", "HEAD"},
		MaxBodyBytes: spec.DefaultMirrorMaxBody, Timeout: spec.Duration(spec.DefaultMirrorTimeout),
		MaxInFlight: spec.DefaultMirrorMaxInFlight,
		Compare:     &spec.Compare{Status: true, Body: true, Keep: spec.DefaultMirrorKeep},
	}, b, diffs, m.mirror())
	return c
}

func (g *Gateway) loadManagedRoutes() (map[string][]ManagedRoute, error) {
	return g.runtime.ManagedRoutes()
}

// ManagedRoutes returns the routes a plan put in front of parent.
func (g *Gateway) ManagedRoutes(parent string) ([]ManagedRoute, error) {
	all, err := g.loadManagedRoutes()
	return all[parent], err
}

// SetManagedRoute adds or replaces the managed route mr in front of parent.
// A route with no match is removed instead, as Argo's setHeaderRoute does.
func (g *Gateway) SetManagedRoute(parent string, mr ManagedRoute, actor, reason string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	cfg := g.table.Load().Config
	var sr *spec.Route
	for i := range cfg.Gateway.Spec.Routes {
		r := &cfg.Gateway.Spec.Routes[i]
		if r.Name == parent {
			sr = r
		}
		if r.Name == mr.Name {
			return &InputError{Field: "name", Msg: fmt.Sprintf("%q is the name of a configured route", mr.Name)}
		}
	}
	if sr == nil {
		return &InputError{Field: "route", Msg: fmt.Sprintf("unknown route %q", parent)}
	}
	for i := range mr.Match {
		if errs := spec.CheckMatch(fmt.Sprintf("match[%d]", i), &mr.Match[i]); len(errs) > 0 {
			return &InputError{Field: errs[0].Path, Msg: errs[0].Msg}
		}
	}
	if mr.MirrorPercent < 0 || mr.MirrorPercent > 100 {
		return &InputError{Field: "mirrorPercent", Msg: fmt.Sprintf("%d must be between 0 and 100", mr.MirrorPercent)}
	}
	if len(mr.Match) > 0 && !managedFits(sr, []ManagedRoute{mr}) {
		return &InputError{Field: "backend", Msg: fmt.Sprintf("route %q has no backend %q", parent, mr.Backend)}
	}
	all, err := g.loadManagedRoutes()
	if err != nil {
		return err
	}
	// Setting what is already there changes nothing and records nothing:
	// the engine sets its routes again after every restart. A replaced
	// route keeps its place.
	before := all[parent]
	after := slices.Clone(before)
	i := slices.IndexFunc(after, func(x ManagedRoute) bool { return x.Name == mr.Name })
	action := "managed-route.set"
	switch {
	case len(mr.Match) == 0 && i < 0:
		return nil
	case len(mr.Match) == 0:
		after, action = slices.Delete(after, i, i+1), "managed-route.removed"
	case i < 0:
		after = append(after, mr)
	case bytes.Equal(mustJSON(after[i]), mustJSON(mr)):
		return nil
	default:
		after[i] = mr
	}
	if _, err := g.runtime.SetManagedRoutes(parent, after, state.Event{
		Actor: actor, Action: action, Target: parent + "/" + mr.Name, Reason: reason, Before: mustJSON(before), After: mustJSON(after),
	}); err != nil {
		return err
	}
	return g.recompile()
}

// RemoveManagedRoutes removes every managed route in front of parent but
// those named in keep.
func (g *Gateway) RemoveManagedRoutes(parent, actor, reason string, keep ...string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.table.Load().routeByName(parent) == nil {
		return &InputError{Field: "route", Msg: fmt.Sprintf("unknown route %q", parent)}
	}
	all, err := g.loadManagedRoutes()
	if err != nil {
		return err
	}
	before := all[parent]
	after := slices.DeleteFunc(slices.Clone(before), func(x ManagedRoute) bool { return !slices.Contains(keep, x.Name) })
	if len(after) == len(before) {
		return nil
	}
	ev := state.Event{Actor: actor, Action: "managed-routes.removed", Target: parent, Reason: reason, Before: mustJSON(before)}
	if len(after) > 0 {
		ev.After = mustJSON(after)
	}
	if _, err := g.runtime.SetManagedRoutes(parent, after, ev); err != nil {
		return err
	}
	return g.recompile()
}

// recompile builds the table again from the running config and the stored
// runtime state. Called with g.mu held.
func (g *Gateway) recompile() error {
	return g.apply(g.table.Load().Config, "runtime")
}

// Diffs returns the last mirrored requests of a route whose answers
// differed, oldest first.
func (g *Gateway) Diffs(route string) ([]mirror.Diff, error) {
	known := g.table.Load().routeByName(route) != nil
	if !known {
		mrs, err := g.loadManagedRoutes()
		if err != nil {
			return nil, err
		}
		for _, list := range mrs {
			for _, mr := range list {
				known = known || mr.Name == route
			}
		}
	}
	if !known {
		return nil, &InputError{Field: "route", Msg: fmt.Sprintf("unknown route %q", route)}
	}
	diffs := g.pool.Diffs(route)
	if diffs == nil {
		diffs = []mirror.Diff{}
	}
	return diffs, nil
}
