package gateway

import "github.com/cutover-dev/cutover/state"

// RuntimeStore keeps what changes while the gateway runs: the weights set
// by an operator or a plan, the routes plans put in front of config
// routes, and the audit log of every change. Each change is stored, with
// its event, before it is applied. state.Runtime keeps them in bbolt.
type RuntimeStore interface {
	Weights() (map[string]state.RouteWeights, error)
	SetWeights(route string, w *state.RouteWeights, ev state.Event) (state.Event, error)
	ManagedRoutes() (map[string][]ManagedRoute, error)
	SetManagedRoutes(route string, routes []ManagedRoute, ev state.Event) (state.Event, error)
	Append(ev state.Event) (state.Event, error)
}

var _ RuntimeStore = state.Runtime[ManagedRoute]{}
