package manifest

import (
	"strings"
	"testing"

	istiov1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/cutover-dev/cutover/ratelimit/rls"
	"github.com/cutover-dev/cutover/spec"
)

// withGlobal is goodService with a global limit on the gateway.
func withGlobal(host, limits string) string {
	return strings.Replace(strings.Replace(goodService, "hosts: [www]", "hosts: ["+host+"]", 1), "    version: 1.2.0\n", `    version: 1.2.0
    rateLimits:
      global:
        descriptors: [":path", "x-user"]
        limits:
`+limits, 1)
}

const webLimits = `        - key: ":path"
          value: /search*
          descriptors:
          - key: x-user
            rate_limit: {unit: minute, requests_per_unit: 10}
`
const shopLimits = `        - key: ":path"
          value: /cart
          rate_limit: {unit: second, requests_per_unit: 5}
`

// Two services with global limits on one gateway: one rate-limit service
// whose ConfigMap holds both services' limits in the gateway's domain, as
// `cutover ratelimit serve` loads them, and one rate-limit filter with each
// virtual host's actions once.
func TestGlobalLimitsMergeIntoOneServiceAndOneFilter(t *testing.T) {
	tree, err := Generate(writeConfig(t, map[string]string{
		"web.yaml":  withGlobal("www", webLimits),
		"shop.yaml": withGlobal("www", shopLimits),
	}))
	if err != nil {
		t.Fatal(err)
	}
	var filters, ratelimitFilters, vhostPatches int
	var cm *corev1.ConfigMap
	var deploy *appsv1.Deployment
	for _, r := range tree.Resources {
		switch o := r.Object.(type) {
		case *istiov1alpha3.EnvoyFilter:
			filters++
			for _, p := range o.Spec.ConfigPatches {
				if strings.Contains(p.Patch.Value.String(), "envoy.filters.http.ratelimit") {
					ratelimitFilters++
				}
				if p.ApplyTo.String() == "VIRTUAL_HOST" {
					vhostPatches++
				}
			}
		case *corev1.ConfigMap:
			if r.Service.Name == "ratelimit" {
				cm = o
			}
		case *appsv1.Deployment:
			if o.Name == "ratelimit" {
				deploy = o
			}
		}
	}
	// www.example.com, www.blue.example.com and www.green.example.com
	// (production's colours), each once although both services are on www.
	if filters != 1 || ratelimitFilters != 1 || vhostPatches != 3 {
		t.Fatalf("%d EnvoyFilters, %d rate-limit filters, %d virtual-host patches; want 1, 1 and 3", filters, ratelimitFilters, vhostPatches)
	}
	if cm == nil || deploy == nil {
		t.Fatalf("no rate-limit ConfigMap (%v) or Deployment (%v)", cm != nil, deploy != nil)
	}
	cfg, err := rls.Parse([]spec.Source{{File: "frontend.yaml", Data: []byte(cm.Data["frontend.yaml"])}})
	if err != nil {
		t.Fatalf("the generated limits do not load: %v\n%s", err, cm.Data["frontend.yaml"])
	}
	for _, tc := range []struct {
		entries []rls.Entry
		want    uint32
	}{
		{[]rls.Entry{{Key: ":path", Value: "/search?q=x"}, {Key: "x-user", Value: "u1"}}, 10},
		{[]rls.Entry{{Key: ":path", Value: "/cart"}}, 5},
	} {
		if r := cfg.Match("frontend", tc.entries).Rule; r == nil || r.RequestsPerUnit != tc.want {
			t.Errorf("%v: %v, want a limit of %d", tc.entries, r, tc.want)
		}
	}
	args := strings.Join(deploy.Spec.Template.Spec.Containers[0].Args, " ")
	if !strings.Contains(args, "ratelimit serve --config-dir /etc/ratelimit") || !strings.Contains(args, "--redis redis:6379") {
		t.Errorf("rate-limit service args %q", args)
	}
}

// Global limits that cannot be merged or served are refused, each naming
// the service's file, line and field, and the other service where two clash.
func TestGlobalLimitConflicts(t *testing.T) {
	other := strings.Replace(shopLimits, "requests_per_unit: 5", "requests_per_unit: 6", 1)
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"same descriptor, other limit", map[string]string{"a.yaml": withGlobal("www", shopLimits), "b.yaml": withGlobal("shop", other)},
			`b.yaml:17:11: production.rateLimits.global.limits[0]: descriptor ":path_/cart" is also limited, differently, by`},
		{"two domains", map[string]string{
			"a.yaml": strings.Replace(withGlobal("www", webLimits), "      global:\n", "      global:\n        domain: one\n", 1),
			"b.yaml": strings.Replace(withGlobal("shop", shopLimits), "      global:\n", "      global:\n        domain: two\n", 1)},
			`production.rateLimits.global.domain: "two" differs from "one"`},
		{"two failure modes", map[string]string{
			"a.yaml": withGlobal("www", webLimits),
			"b.yaml": strings.Replace(withGlobal("shop", shopLimits), "      global:\n", "      global:\n        failureModeDeny: true\n", 1)},
			"production.rateLimits.global.failureModeDeny: true differs from false"},
		{"a bad unit", map[string]string{"a.yaml": withGlobal("www", strings.Replace(shopLimits, "unit: second", "unit: fortnight", 1))},
			`a.yaml:19:24: production.rateLimits.global.limits[0].rate_limit.unit: "fortnight" is not one of`},
		{"a key no action sends", map[string]string{"a.yaml": withGlobal("www", strings.Replace(shopLimits, `key: ":path"`, "key: path", 1))},
			`production.rateLimits.global.limits[0].key: "path" is never sent: entry 1 of the request's descriptor is ":path"`},
		{"the service's name", map[string]string{"ratelimit.yaml": withGlobal("www", shopLimits)},
			`ratelimit.yaml:1:1: name: "ratelimit" is the rate-limit service's name`},
	}
	for _, tc := range cases {
		_, err := Generate(writeConfig(t, tc.files))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant %s", tc.name, err, tc.want)
		}
	}
}

// Definitions the templates build names from are checked with their place.
func TestDefinitionsValidation(t *testing.T) {
	for _, tc := range []struct{ defs, want string }{
		{"environments:\n  production:\n    domain: example.com\n    colour: blue\n    colours: [green, Purple_1]\n",
			`definitions.yaml:4:5: environments.production.colour: "blue" is not among colours`},
		{"environments:\n  production:\n    domain: example.com\n    colours: [Purple_1]\n",
			`definitions.yaml:4:15: environments.production.colours[0]: "Purple_1" cannot be part of a host name`},
		{"rateLimitService:\n  redis: {type: sentinel, address: redis:26379}\n",
			`definitions.yaml:2:27: rateLimitService.redis.address: a sentinel address is master@host:port`},
		{"rateLimitService:\n  redis: {type: memcache}\n", `rateLimitService.redis.type: "memcache" is not single, cluster or sentinel`},
	} {
		_, err := Generate(writeConfig(t, map[string]string{"web.yaml": goodService, "definitions.yaml": tc.defs}))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v\nwant %s", tc.defs, err, tc.want)
		}
	}
}
