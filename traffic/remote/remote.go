package remote

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/cutover-dev/cutover/admin/wire"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/traffic"
)

// Type is the router's name.
const Type = "RemoteGateway"

// Router drives one route of a remote gateway.
type Router struct {
	api                   *wire.Client
	route, stable, canary string
}

// New returns a router for the gateway whose admin API is at adminURL.
func New(adminURL, token, route, stable, canary, actor string) *Router {
	return &Router{
		api:   &wire.Client{Base: adminURL, Token: token, Actor: actor, HTTP: &http.Client{Timeout: 5 * time.Second}},
		route: route, stable: stable, canary: canary,
	}
}

// Type implements traffic.Router.
func (r *Router) Type() string { return Type }

func (r *Router) call(ctx context.Context, method, path string, body, out any) error {
	return r.api.Do(ctx, method, path, body, out)
}

// SetWeight implements traffic.Router.
func (r *Router) SetWeight(ctx context.Context, weight int) error {
	body := map[string]any{
		"weights": map[string]int{r.stable: 100 - weight, r.canary: weight},
		"reason":  fmt.Sprintf("setWeight %d", weight),
	}
	return r.call(ctx, http.MethodPut, "/api/v1/routes/"+url.PathEscape(r.route)+"/weights", body, nil)
}

// VerifyWeight implements traffic.Router by reading the remote status.
func (r *Router) VerifyWeight(ctx context.Context, weight int) (*bool, error) {
	var st wire.Status
	if err := r.call(ctx, http.MethodGet, "/api/v1/status", nil, &st); err != nil {
		return nil, err
	}
	for _, rs := range st.Routes {
		if rs.Name != r.route {
			continue
		}
		for _, b := range rs.Backends {
			if b.Name == r.canary {
				ok := b.Weight == weight
				return &ok, nil
			}
		}
	}
	return nil, fmt.Errorf("gateway %s has no route %q with backend %q", r.api.Base, r.route, r.canary)
}

// SetHeaderRoute implements traffic.Router.
func (r *Router) SetHeaderRoute(ctx context.Context, hr *spec.SetHeaderRoute) error {
	mr := wire.HeaderRoute(hr, r.canary)
	body := wire.ManagedRouteRequest{Match: mr.Match, Backend: mr.Backend, Reason: "setHeaderRoute " + hr.Name}
	return r.call(ctx, http.MethodPut, "/api/v1/routes/"+url.PathEscape(r.route)+"/managed/"+url.PathEscape(hr.Name), body, nil)
}

// SetMirrorRoute implements traffic.Router.
func (r *Router) SetMirrorRoute(ctx context.Context, mr *spec.SetMirrorRoute) error {
	m := wire.MirrorRoute(mr, r.canary)
	body := wire.ManagedRouteRequest{Match: m.Match, Backend: m.Backend, MirrorPercent: m.MirrorPercent, Reason: "setMirrorRoute " + mr.Name}
	return r.call(ctx, http.MethodPut, "/api/v1/routes/"+url.PathEscape(r.route)+"/managed/"+url.PathEscape(mr.Name), body, nil)
}

// RemoveManagedRoutes implements traffic.Router.
func (r *Router) RemoveManagedRoutes(ctx context.Context, keep ...string) error {
	path := "/api/v1/routes/" + url.PathEscape(r.route) + "/managed"
	if len(keep) > 0 {
		path += "?" + url.Values{"keep": keep}.Encode()
	}
	return r.call(ctx, http.MethodDelete, path, nil, nil)
}

// CanaryHealthy implements traffic.Health.
func (r *Router) CanaryHealthy(ctx context.Context) error {
	var st wire.Status
	if err := r.call(ctx, http.MethodGet, "/api/v1/status", nil, &st); err != nil {
		return err
	}
	for _, b := range st.Backends {
		if b.Name != r.canary {
			continue
		}
		for _, e := range b.Endpoints {
			if !e.Healthy {
				return fmt.Errorf("gateway %s: canary endpoint %s is unhealthy", r.api.Base, e.Address)
			}
		}
	}
	return nil
}

var (
	_ traffic.Router = (*Router)(nil)
	_ traffic.Health = (*Router)(nil)
)
