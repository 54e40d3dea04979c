package gateway

import (
	"time"

	"github.com/cutover-dev/cutover/accesslog"
)

// Status is what GET /api/v1/status returns.
type Status struct {
	Gateway    string          `json:"gateway"`
	Ready      bool            `json:"ready"`
	Generation uint64          `json:"generation"`
	ConfigFile string          `json:"configFile"`
	ConfigHash string          `json:"configHash"`
	LoadedAt   time.Time       `json:"loadedAt"`
	LastReload ReloadResult    `json:"lastReload"`
	Routes     []RouteStatus   `json:"routes"`
	Backends   []BackendStatus `json:"backends"`
	// AccessLog counts each sink's lines written and dropped.
	AccessLog []accesslog.Stats `json:"accessLog,omitempty"`
}

// RouteStatus is a route's split.
type RouteStatus struct {
	Name string `json:"name"`
	// Source is "config" or "runtime" (set through the API or a plan).
	Source   string         `json:"source"`
	Sticky   bool           `json:"sticky"`
	Backends []RouteBackend `json:"backends"`
}

// RouteBackend is one backend's share of a route.
type RouteBackend struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Weight is the set weight; Effective is the share after health, in
	// percent.
	Weight    int     `json:"weight"`
	Effective float64 `json:"effective"`
	Healthy   bool    `json:"healthy"`
}

// BackendStatus is a backend and its endpoints.
type BackendStatus struct {
	Name      string           `json:"name"`
	Version   string           `json:"version"`
	FailOpen  bool             `json:"failOpen"`
	Endpoints []EndpointStatus `json:"endpoints"`
}

// EndpointStatus is one endpoint's health.
type EndpointStatus struct {
	Address string `json:"address"`
	Healthy bool   `json:"healthy"`
	// ActiveCheck is the last active-check verdict; ActiveState says
	// "unknown" too, before the first check answered. Ejected is passive
	// ejection.
	ActiveCheck bool   `json:"activeCheck"`
	ActiveState string `json:"activeState"`
	Ejected     bool   `json:"ejected"`
	// SlowStart is the ramp factor in percent; 100 when fully warmed up.
	SlowStart float64 `json:"slowStart"`
}

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
			if p.total > 0 {
				eff = float64(p.effective[i]) * 100 / float64(p.total)
			}
			rs.Backends = append(rs.Backends, RouteBackend{
				Name: b.Name, Version: b.Version, Weight: rt.weights[i], Effective: eff, Healthy: p.usable[i],
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
