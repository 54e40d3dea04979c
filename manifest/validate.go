package manifest

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cutover-dev/cutover/manifest/config"
	"github.com/cutover-dev/cutover/manifest/templates"
	"github.com/cutover-dev/cutover/spec"
)

// The generator's own checks (handbook §4.2.5: the exception is the test).
// validateService checks a config before any template runs; validateResources
// checks what the templates made, across services.

func validateService(svc *config.ServiceConfig, defs *templates.Definitions) spec.ErrorList {
	var errs spec.ErrorList
	fail := func(path, format string, args ...any) {
		errs = append(errs, svc.FieldError(path, format, args...))
	}
	for _, msg := range validation.IsDNS1123Label(svc.Name) {
		fail("name", "%q is not a valid name: %s", svc.Name, msg)
	}
	tmpl, ok := templates.Lookup(svc.Template)
	switch {
	case svc.Template == "":
		fail("template", "is required; one of %s", strings.Join(templates.Names(), ", "))
	case !ok:
		fail("template", "unknown template %q; one of %s", svc.Template, strings.Join(templates.Names(), ", "))
	}
	if svc.Image == "" {
		fail("image", "is required")
	}
	if svc.Port < 0 || svc.Port > 65535 {
		fail("port", "must be between 1 and 65535")
	}
	for i, h := range svc.Hosts {
		for _, msg := range validation.IsDNS1123Subdomain(h) {
			fail(fmt.Sprintf("hosts[%d]", i), "%q is not a valid host name: %s", h, msg)
		}
	}
	for i, p := range svc.Paths {
		if !strings.HasPrefix(p, "/") {
			fail(fmt.Sprintf("paths[%d]", i), "%q must start with /", p)
		}
	}
	if len(svc.Environments) == 0 {
		fail("environments", "is required: at least one of %s", strings.Join(sortedKeys(defs.Environments), ", "))
	}
	for _, env := range sortedKeys(svc.Environments) {
		if _, ok := defs.Environments[env]; !ok {
			fail("environments."+env, "unknown environment %q; the definitions have %s", env, strings.Join(sortedKeys(defs.Environments), ", "))
		}
	}
	if !ok {
		return errs
	}
	for _, env := range svc.EnvNames() {
		if _, known := defs.Environments[env]; !known {
			continue
		}
		in := &templates.Input{Service: svc, Template: tmpl, Env: env, Config: svc.Resolve(env), Defs: defs}
		for _, e := range validateEnv(in) {
			errs = append(errs, e)
		}
	}
	return errs
}

var (
	cookieName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	nginxRate  = regexp.MustCompile(`^[1-9][0-9]*r/[sm]$`)
)

func validateEnv(in *templates.Input) []*spec.FieldError {
	var errs []*spec.FieldError
	fail := func(field, format string, args ...any) {
		errs = append(errs, in.Fail(field, format, args...))
	}
	c := in.Config
	if c.Version == "" {
		fail("version", "is required")
	}
	for _, msg := range validation.IsValidLabelValue(c.Version) {
		fail("version", "%q cannot be a label value: %s", c.Version, msg)
	}
	if c.Replicas != nil && *c.Replicas < 1 {
		fail("replicas", "must be at least 1")
	}
	validateResourceBlock(in, fail)
	if a := c.Autoscaling; a != nil {
		if a.MinReplicas < 1 {
			fail("autoscaling.minReplicas", "must be at least 1")
		}
		if a.MaxReplicas < a.MinReplicas {
			fail("autoscaling.maxReplicas", "must be at least minReplicas (%d)", a.MinReplicas)
		}
		if a.TargetCPUUtilization < 1 || a.TargetCPUUtilization > 100 {
			fail("autoscaling.targetCPUUtilization", "must be a percentage between 1 and 100")
		}
		if c.Resources == nil || c.Resources.Requests.CPU == "" {
			fail("autoscaling", "needs resources.requests.cpu: utilization is measured against it")
		}
	}
	if r := c.Rollout; r != nil {
		if len(r.Steps) == 0 {
			fail("rollout.steps", "must have at least one step")
		}
		validateSteps(r.Steps, "rollout.steps", fail)
	}
	if rl := c.RateLimits; rl != nil {
		if l := rl.Local; l != nil {
			envoyField := "rateLimits.local"
			if l.Envoy != nil {
				envoyField = "rateLimits.local.envoy"
			}
			switch b := l.EnvoyBucket(); {
			case b != nil && l.Nginx != nil:
				fail("rateLimits.local", "limits with Envoy's token bucket and nginx's leaky bucket at once; choose one")
			case l.Envoy != nil && l.TokenBucket != (config.TokenBucket{}):
				fail("rateLimits.local.envoy", "the token bucket is written twice, here and at rateLimits.local")
			case b == nil && l.Nginx == nil:
				fail("rateLimits.local", "needs envoy (a token bucket) or nginx (a leaky bucket)")
			case b != nil:
				if b.MaxTokens < 1 {
					fail(envoyField+".maxTokens", "must be at least 1")
				}
				if b.TokensPerFill < 1 {
					fail(envoyField+".tokensPerFill", "must be at least 1")
				}
				if d, err := time.ParseDuration(b.FillInterval); err != nil || d <= 0 {
					fail(envoyField+".fillInterval", "%q is not a positive duration such as 1s", b.FillInterval)
				}
			}
			if n := l.Nginx; n != nil {
				if !nginxRate.MatchString(n.Rate) {
					fail("rateLimits.local.nginx.rate", "%q is not a rate nginx reads, such as 10r/s or 600r/m", n.Rate)
				}
				if n.Burst < 0 {
					fail("rateLimits.local.nginx.burst", "must be 0 or more")
				}
				if n.Delay < 0 || n.Delay > n.Burst {
					fail("rateLimits.local.nginx.delay", "must be between 0 and burst (%d)", n.Burst)
				}
				if in.Template.Name != templates.NodeBFFName && in.Template.Name != templates.RailsName {
					fail("rateLimits.local.nginx", "the %s template has no app for nginx to stand in front of", in.Template.Name)
				}
			}
		}
		if g := rl.Global; g != nil {
			validateGlobalLimits(in, g, fail)
			if len(g.Descriptors) == 0 {
				fail("rateLimits.global.descriptors", "must name at least one request header")
			}
			if len(in.Service.Hosts) == 0 {
				fail("rateLimits.global", "needs hosts: the limit applies to the service's virtual hosts on the gateway")
			}
		}
	}
	if a := c.AccessLog; a != nil {
		if in.Template.Name != templates.IngressGatewayName {
			fail("accessLog", "only the %s template logs access; this is %s", templates.IngressGatewayName, in.Template.Name)
		}
		for i, name := range a.Cookies {
			if !cookieName.MatchString(name) {
				fail(fmt.Sprintf("accessLog.cookies[%d]", i), "%q: nginx logs a cookie as $cookie_<name>, so letters, digits and _ only", name)
			}
		}
		if a.Directory != "" && !strings.HasPrefix(a.Directory, "/") {
			fail("accessLog.directory", "%q must be an absolute path on the node", a.Directory)
		}
	}
	if m := c.Migration; m != nil {
		if len(m.Legacy) == 0 {
			fail("migration.legacy", "must list the legacy side's endpoints, host:port")
		}
		for i, ep := range m.Legacy {
			if _, _, err := net.SplitHostPort(ep); err != nil {
				fail(fmt.Sprintf("migration.legacy[%d]", i), "%q is not host:port", ep)
			}
		}
		validateSteps(m.Steps, "migration.steps", fail)
		switch m.Via {
		case "", config.MigrateViaGateway:
		case config.MigrateViaIstio:
			if len(m.Legacy) != 1 {
				fail("migration.legacy", "via istio takes one legacy host:port, which gets a ServiceEntry")
			}
			if c.Rollout != nil {
				fail("migration.via", "istio: the Argo Rollout already sets the weights of this VirtualService route; migrate first, then add rollout steps")
			}
			if len(in.Service.Hosts) == 0 {
				fail("migration.via", "istio needs hosts: the Cutover moves the service's VirtualService route")
			}
			if len(m.Steps) == 0 {
				fail("migration.steps", "via istio needs steps: the Cutover's plan")
			}
		default:
			fail("migration.via", "%q is not gateway or istio", m.Via)
		}
	}
	if c.Upload != nil {
		u := c.Upload
		for field, v := range map[string]string{"bucket": u.Bucket, "region": u.Region, "package": u.Package} {
			if v == "" {
				fail("upload."+field, "is required")
			}
		}
	}
	slices.SortFunc(errs, func(a, b *spec.FieldError) int { return strings.Compare(a.Path, b.Path) })
	return errs
}

func validateSteps(steps []config.RolloutStep, field string, fail func(string, string, ...any)) {
	for i, s := range steps {
		n := 0
		for _, set := range []bool{s.SetWeight != nil, s.Pause != nil, s.SetCanaryScale != nil} {
			if set {
				n++
			}
		}
		p := fmt.Sprintf("%s[%d]", field, i)
		if n != 1 {
			fail(p, "must have exactly one of setWeight, pause, setCanaryScale")
		}
		if s.SetWeight != nil && (*s.SetWeight < 0 || *s.SetWeight > 100) {
			fail(p+".setWeight", "must be between 0 and 100")
		}
	}
}

// validateResourceBlock checks quantities, requests ≤ limits and the floor.
func validateResourceBlock(in *templates.Input, fail func(string, string, ...any)) {
	r := in.Config.Resources
	if r == nil {
		fail("resources", "is required: requests and limits for cpu and memory")
		return
	}
	floor := map[string]string{"cpu": in.Defs.ResourceFloor.CPU, "memory": in.Defs.ResourceFloor.Memory}
	pairs := []struct{ name, req, lim string }{
		{"cpu", r.Requests.CPU, r.Limits.CPU},
		{"memory", r.Requests.Memory, r.Limits.Memory},
	}
	for _, p := range pairs {
		req, okReq := quantity(p.req, "resources.requests."+p.name, fail)
		lim, okLim := quantity(p.lim, "resources.limits."+p.name, fail)
		if okReq && okLim && req.Cmp(lim) > 0 {
			fail("resources.requests."+p.name, "%s is more than the limit %s", p.req, p.lim)
		}
		if f, err := resource.ParseQuantity(floor[p.name]); okReq && err == nil && req.Cmp(f) < 0 {
			fail("resources.requests."+p.name, "%s is less than the floor %s set in the definitions", p.req, floor[p.name])
		}
	}
}

func quantity(s, field string, fail func(string, string, ...any)) (resource.Quantity, bool) {
	if s == "" {
		fail(field, "is required")
		return resource.Quantity{}, false
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		fail(field, "%q is not a quantity such as 250m or 512Mi", s)
		return q, false
	}
	return q, true
}

// validateResources checks the generated objects: names, labels, that
// Services select pods with the ports they target, that HPAs scale
// something, and that no two objects share kind/namespace/name.
func validateResources(rs []*Resource) spec.ErrorList {
	var errs spec.ErrorList
	fail := func(r *Resource, format string, args ...any) {
		e := r.Service.FieldError("environments."+r.Env, "%s: %s", r.Key(), fmt.Sprintf(format, args...))
		e.Path = r.Env
		errs = append(errs, e)
	}
	seen := map[string]*Resource{}
	byEnv := map[string][]*Resource{}
	for _, r := range rs {
		byEnv[r.Env] = append(byEnv[r.Env], r)
		k := r.Env + "/" + r.Key()
		if prev, dup := seen[k]; dup {
			fail(r, "also generated by %s; names must be unique per kind and namespace", prev.Service.File)
			continue
		}
		seen[k] = r
		kind, name := r.Object.GetObjectKind().GroupVersionKind().Kind, r.Object.GetName()
		var msgs []string
		switch kind {
		case "Service":
			msgs = validation.IsDNS1035Label(name)
		case "Job", "Deployment", "Rollout":
			// Their names end up in label values and pod names.
			msgs = validation.IsDNS1123Label(name)
		default:
			msgs = validation.IsDNS1123Subdomain(name)
		}
		for _, m := range msgs {
			fail(r, "name %q: %s", name, m)
		}
		for _, path := range [][]string{{"metadata", "labels"}, {"spec", "template", "metadata", "labels"}, {"spec", "selector", "matchLabels"}, {"spec", "selector"}} {
			labels, _ := dig(r.Doc, path...).(map[string]any)
			if kind != "Service" && path[len(path)-1] == "selector" {
				continue
			}
			for _, k := range slices.Sorted(maps.Keys(labels)) {
				v, _ := labels[k].(string)
				for _, m := range validation.IsQualifiedName(k) {
					fail(r, "%s: label key %q: %s", strings.Join(path, "."), k, m)
				}
				for _, m := range validation.IsValidLabelValue(v) {
					fail(r, "%s: label %s value %q: %s", strings.Join(path, "."), k, v, m)
				}
			}
		}
	}
	for _, env := range sortedKeys(byEnv) {
		errs = append(errs, crossCheck(byEnv[env], fail)...)
	}
	return errs
}

func crossCheck(rs []*Resource, fail func(*Resource, string, ...any)) spec.ErrorList {
	type pod struct {
		ns     string
		labels map[string]any
		ports  map[string]bool
	}
	var pods []pod
	workloads := map[string]bool{}
	for _, r := range rs {
		kind := r.Object.GetObjectKind().GroupVersionKind().Kind
		if kind == "Deployment" || kind == "Rollout" || kind == "StatefulSet" {
			workloads[kind+"/"+r.Object.GetNamespace()+"/"+r.Object.GetName()] = true
		}
		labels, ok := dig(r.Doc, "spec", "template", "metadata", "labels").(map[string]any)
		if !ok || kind == "Job" {
			continue
		}
		p := pod{ns: r.Object.GetNamespace(), labels: labels, ports: map[string]bool{}}
		containers, _ := dig(r.Doc, "spec", "template", "spec", "containers").([]any)
		for _, c := range containers {
			ports, _ := dig(c, "ports").([]any)
			for _, port := range ports {
				if name, ok := dig(port, "name").(string); ok {
					p.ports[name] = true
				}
				if num, ok := dig(port, "containerPort").(float64); ok {
					p.ports[fmt.Sprint(num)] = true
				}
			}
		}
		pods = append(pods, p)
	}
	for _, r := range rs {
		switch r.Object.GetObjectKind().GroupVersionKind().Kind {
		case "Service":
			selector, _ := dig(r.Doc, "spec", "selector").(map[string]any)
			var matched []pod
			for _, p := range pods {
				if p.ns == r.Object.GetNamespace() && selects(selector, p.labels) {
					matched = append(matched, p)
				}
			}
			if len(matched) == 0 {
				fail(r, "selects no pods")
				continue
			}
			ports, _ := dig(r.Doc, "spec", "ports").([]any)
			for _, port := range ports {
				target := fmt.Sprint(dig(port, "targetPort"))
				for _, p := range matched {
					if !p.ports[target] {
						fail(r, "targetPort %s is not a port of the pods it selects", target)
						break
					}
				}
			}
		case "HorizontalPodAutoscaler":
			kind, _ := dig(r.Doc, "spec", "scaleTargetRef", "kind").(string)
			name, _ := dig(r.Doc, "spec", "scaleTargetRef", "name").(string)
			if !workloads[kind+"/"+r.Object.GetNamespace()+"/"+name] {
				fail(r, "scale target %s/%s is not generated", kind, name)
			}
		}
	}
	return nil
}

func selects(selector, labels map[string]any) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// dig walks nested maps.
func dig(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
