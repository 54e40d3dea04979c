package traffic

import (
	"context"
	"errors"

	"github.com/cutover-dev/cutover/spec"
)

// Router moves one route's traffic between its stable and canary sides.
// Calls are idempotent: the engine repeats them after a restart or an error.
type Router interface {
	// Type names the implementation, e.g. "Gateway" or "Istio".
	Type() string
	// SetWeight sends weight percent of the route to the canary and the rest
	// to stable, effective for the next request.
	SetWeight(ctx context.Context, weight int) error
	// SetHeaderRoute sends requests that match to the canary whatever the
	// weight. A route with no match removes the named route.
	SetHeaderRoute(ctx context.Context, route *spec.SetHeaderRoute) error
	// SetMirrorRoute mirrors matching requests to the canary. Routers that
	// cannot mirror return ErrUnsupported.
	SetMirrorRoute(ctx context.Context, route *spec.SetMirrorRoute) error
	// VerifyWeight reports whether the weight in effect is weight. It
	// returns nil when the router cannot tell.
	VerifyWeight(ctx context.Context, weight int) (*bool, error)
	// RemoveManagedRoutes removes every header and mirror route the plan
	// added but those named in keep.
	RemoveManagedRoutes(ctx context.Context, keep ...string) error
}

// Health is what a router knows of the canary side's readiness, for
// `promote --full`.
type Health interface {
	// CanaryHealthy returns nil when every canary endpoint takes traffic,
	// else an error that says which do not.
	CanaryHealthy(ctx context.Context) error
}

// ErrUnsupported is returned for a step the router cannot carry out.
var ErrUnsupported = errors.New("not supported by this traffic router")
