package gateway

import (
	"time"

	"github.com/cutover-dev/cutover/admin/wire"
)

// The status types are the admin API's wire types.
type (
	Status         = wire.Status
	ReloadResult   = wire.ReloadResult
	RouteStatus    = wire.RouteStatus
	RouteBackend   = wire.RouteBackend
	BackendStatus  = wire.BackendStatus
	EndpointStatus = wire.EndpointStatus
)

// Status reports the gateway's current state.
func (g *Gateway) Status() Status {
	g.mu.Lock()
	last, gen := g.lastReload, g.generation
	g.mu.Unlock()
	t := g.table.Load()
	now := time.Now().UnixNano()
	st := Status{
		Gateway:    t.Config.Gateway.Metadata.Name,
		Ready:      g.Ready(),
		Generation: gen,
		ConfigFile: t.Config.File,
		ConfigHash: t.Config.Hash,
		LoadedAt:   t.LoadedAt.UTC(),
		LastReload: last,
	}
	for _, rt := range t.routes {
		p := rt.plan.Load()
		rs := RouteStatus{Name: rt.name, Source: "config", Sticky: rt.sticky != nil}
		if rt.runtime {
			rs.Source = "runtime"
		}
		for i, b := range rt.backends {
			eff := 0.0
			eff = p.Share(i)
			rs.Backends = append(rs.Backends, RouteBackend{
				Name: b.Name, Version: b.Version, Weight: rt.weights[i], Effective: eff, Healthy: p.Usable[i],
			})
		}
		st.Routes = append(st.Routes, rs)
	}
	if g.proxy.log != nil {
		st.AccessLog = g.proxy.log.logger.Stats()
	}
	for _, b := range t.backends {
		bs := BackendStatus{Name: b.Name, Version: b.Version, FailOpen: b.FailOpen}
		for _, e := range b.Endpoints {
			bs.Endpoints = append(bs.Endpoints, EndpointStatus{
				Address:     e.Addr,
				Healthy:     e.Available(now),
				ActiveCheck: e.ActiveCheck(),
				ActiveState: e.ActiveState(),
				Ejected:     e.Ejected(now),
				SlowStart:   b.RampPercent(e, now),
			})
		}
		st.Backends = append(st.Backends, bs)
	}
	return st
}
