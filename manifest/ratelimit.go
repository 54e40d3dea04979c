package manifest

import (
	"fmt"
	"reflect"

	"github.com/cutover-dev/cutover/manifest/config"
	"github.com/cutover-dev/cutover/manifest/templates"
	"github.com/cutover-dev/cutover/ratelimit/rls"
	"github.com/cutover-dev/cutover/spec"
)

// gatewayLimits is one environment's global limits as they merge.
type gatewayLimits struct {
	setup *templates.RateLimitSetup
	// domainFrom named the domain first; modeFrom set the failure mode.
	domainFrom, modeFrom *config.ServiceConfig
	// limits are the top-level descriptors by key_value, with the service
	// that gave each.
	limits map[string]limitOwner
	// vhosts are the virtual-host actions already added.
	vhosts map[string]bool
}

type limitOwner struct {
	svc   *config.ServiceConfig
	limit rls.Descriptor
}

// rateLimitSetups merges, per environment, the global limits of every
// service into the gateway's one domain. Services that name different
// domains or failure modes, or the same descriptor with different limits,
// are refused, naming both.
func rateLimitSetups(defs *templates.Definitions, services []*config.ServiceConfig) (map[string]*templates.RateLimitSetup, spec.ErrorList) {
	envs := map[string]*gatewayLimits{}
	var errs spec.ErrorList
	name := defs.RateLimitService.Name
	for _, svc := range services {
		if svc.Name == name {
			errs = append(errs, svc.FieldError("name", "%q is the rate-limit service's name (definitions rateLimitService.name); rename one", name))
		}
	}
	for _, svc := range services {
		tmpl, _ := templates.Lookup(svc.Template)
		for _, env := range svc.EnvNames() {
			in := &templates.Input{Service: svc, Template: tmpl, Env: env, Config: svc.Resolve(env), Defs: defs}
			rl := in.Config.RateLimits
			if rl == nil || rl.Global == nil {
				continue
			}
			g := rl.Global
			gl := envs[env]
			if gl == nil {
				gl = &gatewayLimits{
					setup:    &templates.RateLimitSetup{Env: env, Domain: defs.RateLimitService.Domain, FailureModeDeny: g.FailureModeDeny},
					modeFrom: svc, limits: map[string]limitOwner{}, vhosts: map[string]bool{},
				}
				envs[env] = gl
			}
			s := gl.setup
			switch {
			case g.Domain == "":
			case defs.RateLimitService.Domain != "" && g.Domain != defs.RateLimitService.Domain:
				errs = append(errs, in.Fail("rateLimits.global.domain", "%q is not the gateway's domain %q (definitions rateLimitService.domain): a gateway has one", g.Domain, defs.RateLimitService.Domain))
			case gl.domainFrom != nil && g.Domain != s.Domain:
				errs = append(errs, in.Fail("rateLimits.global.domain", "%q differs from %q, which %s gives on the same gateway: a gateway has one domain", g.Domain, s.Domain, gl.domainFrom.File))
			case gl.domainFrom == nil:
				gl.domainFrom = svc
				if s.Domain == "" {
					s.Domain = g.Domain
				}
			}
			if g.FailureModeDeny != s.FailureModeDeny {
				errs = append(errs, in.Fail("rateLimits.global.failureModeDeny", "%v differs from %v in %s: the gateway has one rate-limit filter", g.FailureModeDeny, s.FailureModeDeny, gl.modeFrom.File))
			}
			for _, h := range in.Hosts() {
				v := templates.RateLimitActions{VirtualHost: fmt.Sprintf("%s:%d", h, defs.Gateway.Port), Headers: g.Descriptors}
				if k := fmt.Sprint(v); !gl.vhosts[k] {
					gl.vhosts[k] = true
					s.VirtualHosts = append(s.VirtualHosts, v)
				}
			}
			for i, d := range g.Limits {
				k := d.Key
				if d.Value != "" {
					k += "_" + d.Value
				}
				if prev, dup := gl.limits[k]; dup {
					if !reflect.DeepEqual(prev.limit, d) {
						errs = append(errs, in.Fail(fmt.Sprintf("rateLimits.global.limits[%d]", i), "descriptor %q is also limited, differently, by %s; merged into one domain, the two would clash", k, prev.svc.File))
					}
					continue
				}
				gl.limits[k] = limitOwner{svc: svc, limit: d}
				s.Descriptors = append(s.Descriptors, d)
			}
		}
	}
	setups := map[string]*templates.RateLimitSetup{}
	for env, gl := range envs {
		if gl.setup.Domain == "" {
			gl.setup.Domain = defs.PartOf
		}
		setups[env] = gl.setup
	}
	return setups, errs
}

// validateGlobalLimits checks a service's limits as the rate-limit service
// will load them, and that each level's key is one its actions send.
func validateGlobalLimits(in *templates.Input, g *config.GlobalRateLimit, fail func(field, format string, args ...any)) {
	rls.Check("service", "rateLimits.global.limits", g.Limits, func(path, format string, args ...any) {
		fail(path, format, args...)
	})
	var walk func(ds []rls.Descriptor, depth int, path string)
	walk = func(ds []rls.Descriptor, depth int, path string) {
		for i, d := range ds {
			p := fmt.Sprintf("%s[%d]", path, i)
			switch {
			case depth >= len(g.Descriptors):
				fail(p+".key", "%q is at level %d, but the actions send %d entries (descriptors)", d.Key, depth+1, len(g.Descriptors))
			case d.Key != g.Descriptors[depth]:
				fail(p+".key", "%q is never sent: entry %d of the request's descriptor is %q (descriptors[%d])", d.Key, depth+1, g.Descriptors[depth], depth)
			}
			walk(d.Descriptors, depth+1, p+".descriptors")
		}
	}
	walk(g.Limits, 0, "rateLimits.global.limits")
}
