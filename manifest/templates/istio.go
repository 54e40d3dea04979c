package templates

import (
	"encoding/json"
	"fmt"

	istioapi "istio.io/api/networking/v1alpha3"
	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	istiov1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
)

// PrimaryRoute names the service's HTTP route in its VirtualService; Argo
// Rollouts and cutover set weights on this route only.
func PrimaryRoute(in *Input) string { return "http-" + in.Name() + "-primary" }

// VirtualService routes the service's hosts and paths on the ingress
// gateway; a Rollout's canary starts at weight 0.
func VirtualService(in *Input) *istiov1.VirtualService {
	vs := &istiov1.VirtualService{TypeMeta: typeMeta("networking.istio.io/v1", "VirtualService"), ObjectMeta: in.Meta(in.Name())}
	gw := in.Defs.Gateway
	vs.Spec.Hosts = in.Hosts()
	vs.Spec.Gateways = []string{gw.Namespace + "/" + gw.Name}
	route := &istioapi.HTTPRoute{Name: PrimaryRoute(in)}
	for _, p := range in.Service.Paths {
		route.Match = append(route.Match, &istioapi.HTTPMatchRequest{
			Uri: &istioapi.StringMatch{MatchType: &istioapi.StringMatch_Prefix{Prefix: p}},
		})
	}
	if host, port, ok := LegacyHost(in); ok {
		// Migrating: the route starts on the legacy host; the Cutover moves it.
		route.Route = append(route.Route, &istioapi.HTTPRouteDestination{
			Destination: &istioapi.Destination{Host: host, Port: &istioapi.PortSelector{Number: uint32(port)}},
			Weight:      100,
		})
	}
	for _, name := range ServiceNames(in) {
		weight := int32(0)
		if len(route.Route) == 0 {
			weight = 100
		}
		route.Route = append(route.Route, &istioapi.HTTPRouteDestination{
			Destination: &istioapi.Destination{
				Host: fmt.Sprintf("%s.%s.svc.cluster.local", name, in.Namespace()),
				Port: &istioapi.PortSelector{Number: uint32(in.Defs.ServicePort)},
			},
			Weight: weight,
		})
	}
	vs.Spec.Http = []*istioapi.HTTPRoute{route}
	return vs
}

// Gateway is the Istio Gateway the services' VirtualServices attach to,
// serving every host on the environment's domain and, on a coloured
// cluster, on its colour's subdomain too (002: app.blue.example.com).
func Gateway(in *Input) *istiov1.Gateway {
	gw := in.Defs.Gateway
	env := in.Defs.Environments[in.Env]
	g := &istiov1.Gateway{TypeMeta: typeMeta("networking.istio.io/v1", "Gateway"), ObjectMeta: in.Meta(gw.Name)}
	g.Spec.Selector = gw.Selector
	hosts := []string{"*." + env.Domain}
	for _, c := range env.AllColours() {
		hosts = append(hosts, "*."+c+"."+env.Domain)
	}
	g.Spec.Servers = []*istioapi.Server{{
		Port:  &istioapi.Port{Number: uint32(gw.Port), Name: "http", Protocol: "HTTP"},
		Hosts: hosts,
	}}
	return g
}

// RateLimitFilters are the EnvoyFilters for the service's local token
// bucket on its own sidecar (§13.2.1), nil when it has none. Its global
// limit goes into the gateway's one filter (RateLimitServiceObjects).
func RateLimitFilters(in *Input) ([]Object, error) {
	rl := in.Config.RateLimits
	if rl == nil {
		return nil, nil
	}
	var out []Object
	if l := rl.Local.EnvoyBucket(); l != nil {
		f, err := envoyFilter(in, in.Name()+"-local-ratelimit", map[string]any{
			"workloadSelector": map[string]any{"labels": in.Selector()},
			"configPatches": []any{map[string]any{
				"applyTo": "HTTP_FILTER",
				"match": map[string]any{
					"context":  "SIDECAR_INBOUND",
					"listener": map[string]any{"filterChain": map[string]any{"filter": map[string]any{"name": "envoy.filters.network.http_connection_manager"}}},
				},
				"patch": map[string]any{
					"operation": "INSERT_BEFORE",
					"value": map[string]any{
						"name": "envoy.filters.http.local_ratelimit",
						"typed_config": map[string]any{
							"@type":       "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
							"stat_prefix": "http_local_rate_limiter",
							"token_bucket": map[string]any{
								"max_tokens": l.MaxTokens, "tokens_per_fill": l.TokensPerFill, "fill_interval": l.FillInterval,
							},
							"filter_enabled":  fullFraction("local_rate_limit_enabled"),
							"filter_enforced": fullFraction("local_rate_limit_enforced"),
						},
					},
				},
			}},
		})
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func fullFraction(key string) map[string]any {
	return map[string]any{"runtime_key": key, "default_value": map[string]any{"numerator": 100, "denominator": "HUNDRED"}}
}

// envoyFilter builds the spec through Istio's own JSON decoding, which
// refuses unknown fields and bad enum values.
func envoyFilter(in *Input, name string, spec map[string]any) (*istiov1alpha3.EnvoyFilter, error) {
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	f := &istiov1alpha3.EnvoyFilter{TypeMeta: typeMeta("networking.istio.io/v1alpha3", "EnvoyFilter"), ObjectMeta: in.Meta(name)}
	if err := (&f.Spec).UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("EnvoyFilter %s: %w", name, err)
	}
	return f, nil
}
