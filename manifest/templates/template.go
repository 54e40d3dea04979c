package templates

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cutover-dev/cutover/manifest/config"
	"github.com/cutover-dev/cutover/spec"
)

// Object is one generated Kubernetes object. The k8s.io/api, Istio and
// argo types all satisfy it.
type Object interface {
	metav1.Object
	GetObjectKind() schema.ObjectKind
}

// Template renders a kind of service.
type Template struct {
	// Name is what config files write as template.
	Name string
	// Component is the default app.kubernetes.io/component.
	Component string
	// Port is the default container port; 0 for services without one.
	Port int
	// Render returns the objects for one service in one environment.
	Render func(in *Input) ([]Object, error)
	// Scaffold is the commented config `cutover new service` writes; %s is
	// the service name.
	Scaffold string
}

var (
	mu       sync.RWMutex
	registry = map[string]*Template{}
)

// Register adds a template; a second template with the same name panics.
func Register(t *Template) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[t.Name]; dup {
		panic("templates: duplicate template " + t.Name)
	}
	registry[t.Name] = t
}

// Lookup finds a registered template.
func Lookup(name string) (*Template, bool) {
	mu.RLock()
	defer mu.RUnlock()
	t, ok := registry[name]
	return t, ok
}

// Names lists the registered templates, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	return slices.Sorted(maps.Keys(registry))
}

// Input is what a template renders from.
type Input struct {
	Service  *config.ServiceConfig
	Template *Template
	Env      string
	// Config is the environment's settings with the defaults merged in.
	Config config.EnvConfig
	Defs   *Definitions
}

// Name is the service's name, the base of its objects' names.
func (in *Input) Name() string { return in.Service.Name }

// Namespace is where the service's objects go in this environment.
func (in *Input) Namespace() string {
	if ns := in.Defs.Environments[in.Env].Namespace; ns != "" {
		return ns
	}
	return in.Defs.Namespace
}

// Component is the service's app.kubernetes.io/component.
func (in *Input) Component() string {
	if in.Service.Component != "" {
		return in.Service.Component
	}
	return in.Template.Component
}

// Port is the container port, the template's default when unset.
func (in *Input) Port() int {
	if in.Service.Port != 0 {
		return in.Service.Port
	}
	return in.Template.Port
}

// Fail reports a problem with one of the environment's fields, at the place
// the value was written (the environment's block or the defaults), as
// config/web.yaml:12:5: production.replicas: must be at least 1.
func (in *Input) Fail(field, format string, args ...any) *spec.FieldError {
	e := in.Service.FieldError(in.Service.EnvPath(in.Env, field), format, args...)
	e.Path = in.Env + "." + field
	return e
}

// Labels are the recommended labels, on every object by construction.
func (in *Input) Labels() map[string]string {
	l := in.Selector()
	l["app.kubernetes.io/component"] = in.Component()
	l["app.kubernetes.io/part-of"] = in.Defs.PartOf
	l["app.kubernetes.io/managed-by"] = in.Defs.ManagedBy
	if in.Config.Version != "" {
		l["app.kubernetes.io/version"] = in.Config.Version
	}
	return l
}

// Selector is the subset of Labels that stays the same across versions, so
// Services and Deployments select from the same values the labels carry.
func (in *Input) Selector() map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     in.Name(),
		"app.kubernetes.io/instance": in.Name() + "-" + in.Env,
	}
}

// Meta is an object's metadata with the recommended labels.
func (in *Input) Meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: in.Namespace(), Labels: in.Labels()}
}

// Hosts are the service's public host names in this environment, then
// the host names of each of the environment's cluster colours
// (www.blue.example.com, www.green.example.com).
func (in *Input) Hosts() []string {
	env := in.Defs.Environments[in.Env]
	var hosts []string
	for _, h := range in.Service.Hosts {
		hosts = append(hosts, h+"."+env.Domain)
	}
	for _, c := range env.AllColours() {
		for _, h := range in.Service.Hosts {
			hosts = append(hosts, h+"."+c+"."+env.Domain)
		}
	}
	return hosts
}

// Image is the image reference for the environment's version.
func (in *Input) Image() string {
	return fmt.Sprintf("%s:%s", in.Service.Image, in.Config.Version)
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}
