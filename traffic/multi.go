package traffic

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cutover-dev/cutover/spec"
)

// Multi moves the same route on several routers in step, such as gateway
// replicas behind a layer-4 load balancer. Each call goes to every router
// in order; the first error stops it, and since calls are idempotent the
// engine's retry completes the rest.
type Multi []Router

// Type implements Router.
func (m Multi) Type() string {
	types := make([]string, len(m))
	for i, r := range m {
		types[i] = r.Type()
	}
	return strings.Join(types, "+")
}

func (m Multi) each(fn func(Router) error) error {
	for i, r := range m {
		if err := fn(r); err != nil {
			return fmt.Errorf("router %d (%s): %w", i, r.Type(), err)
		}
	}
	return nil
}

// SetWeight implements Router.
func (m Multi) SetWeight(ctx context.Context, weight int) error {
	return m.each(func(r Router) error { return r.SetWeight(ctx, weight) })
}

// SetHeaderRoute implements Router.
func (m Multi) SetHeaderRoute(ctx context.Context, hr *spec.SetHeaderRoute) error {
	return m.each(func(r Router) error { return r.SetHeaderRoute(ctx, hr) })
}

// SetMirrorRoute implements Router.
func (m Multi) SetMirrorRoute(ctx context.Context, mr *spec.SetMirrorRoute) error {
	return m.each(func(r Router) error { return r.SetMirrorRoute(ctx, mr) })
}

// RemoveManagedRoutes implements Router.
func (m Multi) RemoveManagedRoutes(ctx context.Context, keep ...string) error {
	return m.each(func(r Router) error { return r.RemoveManagedRoutes(ctx, keep...) })
}

// VerifyWeight implements Router: false if any router disagrees, nil if
// none disagrees but one cannot tell.
func (m Multi) VerifyWeight(ctx context.Context, weight int) (*bool, error) {
	unknown := false
	for i, r := range m {
		ok, err := r.VerifyWeight(ctx, weight)
		if err != nil {
			return nil, fmt.Errorf("router %d (%s): %w", i, r.Type(), err)
		}
		if ok == nil {
			unknown = true
		} else if !*ok {
			return ok, nil
		}
	}
	if unknown {
		return nil, nil
	}
	ok := true
	return &ok, nil
}

// CanaryHealthy implements Health over the routers that know.
func (m Multi) CanaryHealthy(ctx context.Context) error {
	var errs []error
	for _, r := range m {
		if h, ok := r.(Health); ok {
			if err := h.CanaryHealthy(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

var (
	_ Router = Multi(nil)
	_ Health = Multi(nil)
)
