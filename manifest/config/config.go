package config

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cutover-dev/cutover/ratelimit/rls"
	"github.com/cutover-dev/cutover/spec"
)

// ServiceConfig is one config/<service>.yaml: the User Config layer.
type ServiceConfig struct {
	// Name defaults to the file name without its extension.
	Name string `yaml:"name"`
	// Template names the kind of service: node-bff, rails,
	// static-upload-job or ingress-gateway.
	Template string `yaml:"template"`
	Image    string `yaml:"image"`
	// Port is the container port the application listens on.
	Port int `yaml:"port"`
	// Component is app.kubernetes.io/component; the template's default
	// when empty.
	Component string `yaml:"component"`
	// Hosts are the host names on the environment's domain that route to
	// this service (www → www.example.com), with Paths as URI prefixes.
	Hosts []string `yaml:"hosts"`
	Paths []string `yaml:"paths"`
	// Defaults apply to every environment; an environment's own values win.
	Defaults     EnvConfig            `yaml:"defaults"`
	Environments map[string]EnvConfig `yaml:"environments"`

	// File is where the config was read from, for messages.
	File  string                `yaml:"-"`
	where func(string) spec.Pos `yaml:"-"`
}

// EnvConfig is a service's settings in one environment.
type EnvConfig struct {
	Version     string            `yaml:"version"`
	Replicas    *int              `yaml:"replicas"`
	Resources   *Resources        `yaml:"resources"`
	Autoscaling *Autoscaling      `yaml:"autoscaling"`
	Env         map[string]string `yaml:"env"`
	// Config becomes a ConfigMap mounted at /etc/<service>; its content
	// hash is a pod annotation, so a change rolls the pods.
	Config     map[string]string `yaml:"config"`
	Rollout    *RolloutConfig    `yaml:"rollout"`
	RateLimits *RateLimits       `yaml:"rateLimits"`
	// Upload configures the static-upload-job template.
	Upload *Upload `yaml:"upload"`
	// AccessLog configures the ingress-gateway template's access log.
	AccessLog *AccessLog `yaml:"accessLog"`
	// Migration, while set, emits the cutover Gateway and Rollout that move
	// this service's traffic from a legacy backend to the cluster.
	Migration *Migration `yaml:"migration"`
	// Enabled false leaves the service out of the environment.
	Enabled *bool `yaml:"enabled"`
}

// Resources are a container's requests and limits.
type Resources struct {
	Requests ResourceList `yaml:"requests"`
	Limits   ResourceList `yaml:"limits"`
}

// ResourceList holds Kubernetes quantities as written: "250m", "512Mi".
type ResourceList struct {
	CPU    string `yaml:"cpu"`
	Memory string `yaml:"memory"`
}

// Autoscaling becomes an autoscaling/v2 HorizontalPodAutoscaler.
type Autoscaling struct {
	MinReplicas int `yaml:"minReplicas"`
	MaxReplicas int `yaml:"maxReplicas"`
	// TargetCPUUtilization is a percentage of the pod's CPU requests.
	TargetCPUUtilization int `yaml:"targetCPUUtilization"`
}

// RolloutConfig turns the Deployment into an Argo Rollout with Istio
// traffic routing (handbook §7.3).
type RolloutConfig struct {
	Steps []RolloutStep `yaml:"steps"`
	// DynamicStableScale scales the stable side down as traffic leaves it.
	DynamicStableScale *bool `yaml:"dynamicStableScale"`
}

// RolloutStep is the subset of Argo's canary steps that both Argo Rollouts
// and a cutover plan understand.
type RolloutStep struct {
	SetWeight      *int            `yaml:"setWeight"`
	Pause          *spec.Pause     `yaml:"pause"`
	SetCanaryScale *SetCanaryScale `yaml:"setCanaryScale"`
}

// SetCanaryScale sizes the canary to its traffic share.
type SetCanaryScale struct {
	MatchTrafficWeight bool `yaml:"matchTrafficWeight"`
}

// RateLimits become EnvoyFilters (handbook §12-13).
type RateLimits struct {
	Local  *LocalRateLimit  `yaml:"local"`
	Global *GlobalRateLimit `yaml:"global"`
}

// LocalRateLimit limits each pod on its own (handbook §13), one of two
// ways: Envoy's token bucket on the sidecar (envoy, or its fields written
// here directly), which lets a burst through to the app at once, or
// nginx's leaky bucket in front of the app (nginx), which queues a burst
// and passes it on at the rate, as the handbook chose for its BFFs.
type LocalRateLimit struct {
	TokenBucket `yaml:",inline"`
	Envoy       *TokenBucket `yaml:"envoy"`
	Nginx       *NginxLimit  `yaml:"nginx"`
}

// TokenBucket is Envoy's local rate limit.
type TokenBucket struct {
	MaxTokens     int    `yaml:"maxTokens"`
	TokensPerFill int    `yaml:"tokensPerFill"`
	FillInterval  string `yaml:"fillInterval"`
}

// NginxLimit is nginx's limit_req: Rate such as 10r/s or 600r/m, Burst
// requests queued beyond it, of which Delay go on without waiting.
type NginxLimit struct {
	Rate  string `yaml:"rate"`
	Burst int    `yaml:"burst"`
	Delay int    `yaml:"delay"`
	// Image is the nginx sidecar's image; default nginx:1.27.
	Image string `yaml:"image"`
}

// EnvoyBucket is the token bucket to generate, nil when nginx limits or
// nothing does.
func (l *LocalRateLimit) EnvoyBucket() *TokenBucket {
	switch {
	case l == nil:
		return nil
	case l.Envoy != nil:
		return l.Envoy
	case l.TokenBucket != (TokenBucket{}):
		return &l.TokenBucket
	}
	return nil
}

// GlobalRateLimit sends the service's requests through the rate-limit
// service with one descriptor per entry (handbook §12.1).
type GlobalRateLimit struct {
	// Domain is the gateway's rate-limit domain; every service on the
	// gateway names the same one, or leaves it to the definitions.
	Domain string `yaml:"domain"`
	// Descriptors are request header names (":path", "x-user-id") whose
	// values form the descriptor, one descriptor entry each.
	Descriptors     []string `yaml:"descriptors"`
	FailureModeDeny bool     `yaml:"failureModeDeny"`
	// Limits are envoyproxy/ratelimit descriptors, as in its config files:
	// the first level's key is the first header, the next level's the
	// second. They are merged with the other services' into the
	// rate-limit service's configuration.
	Limits []rls.Descriptor `yaml:"limits"`
}

// AccessLog is the gateway's nginx access log (handbook §10).
type AccessLog struct {
	// Cookies are logged by name, each as cookie_<name>.
	Cookies []string `yaml:"cookies"`
	// Directory on the gateway node gets one file per host and day.
	Directory string `yaml:"directory"`
}

// Upload is what the static upload Job copies where (handbook §19.2).
type Upload struct {
	Bucket         string `yaml:"bucket"`
	Region         string `yaml:"region"`
	Package        string `yaml:"package"`
	PackageDistDir string `yaml:"packageDistDir"`
	Destination    string `yaml:"destination"`
}

// How a migration's traffic is moved.
const (
	MigrateViaGateway = "gateway"
	MigrateViaIstio   = "istio"
)

// Migration is a service still being moved from a legacy backend.
type Migration struct {
	// Via says what moves the traffic: "gateway" (the default) writes a
	// cutover Gateway and plan for `cutover serve`; "istio" writes a
	// Cutover resource for `cutover controller`, whose VirtualService
	// route starts on the legacy host.
	Via string `yaml:"via"`
	// Legacy lists the old side's endpoints, host:port; via istio, one
	// DNS name.
	Legacy []string `yaml:"legacy"`
	// Listen is where the cutover gateway accepts traffic.
	Listen string `yaml:"listen"`
	// Steps default to the service's rollout steps.
	Steps []RolloutStep `yaml:"steps"`
}

// DefinitionsFile is the base name of the optional config/definitions.yaml,
// which is not a service.
const DefinitionsFile = "definitions"

// LoadServices reads every config/*.yaml, *.yml and *.json in dir except
// definitions.yaml, in name order.
func LoadServices(dir string) ([]*ServiceConfig, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []*ServiceConfig
	var errs spec.ErrorList
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		base := strings.TrimSuffix(e.Name(), ext)
		if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") || base == DefinitionsFile {
			continue
		}
		file := filepath.Join(dir, e.Name())
		svc, err := LoadService(file)
		if err != nil {
			if l, ok := err.(spec.ErrorList); ok {
				errs = append(errs, l...)
				continue
			}
			return nil, err
		}
		out = append(out, svc)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// LoadService reads one service config, refusing unknown fields.
func LoadService(file string) (*ServiceConfig, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	svc := &ServiceConfig{}
	where, err := spec.DecodeDocument(file, data, svc)
	if err != nil {
		return nil, err
	}
	svc.File, svc.where = file, where
	if svc.Name == "" {
		svc.Name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	return svc, nil
}

// FieldError names the place of path in the service's file.
func (s *ServiceConfig) FieldError(path, format string, args ...any) *spec.FieldError {
	e := &spec.FieldError{File: s.File, Path: path, Msg: fmt.Sprintf(format, args...)}
	if s.where != nil {
		e.Pos = s.where(path)
	}
	return e
}

// EnvPath is where an environment's field was written: under
// environments.<env> when the environment sets it, else under defaults.
func (s *ServiceConfig) EnvPath(env, field string) string {
	own := "environments." + env + "." + field
	if s.where == nil {
		return own
	}
	if s.where(own) != s.where("environments."+env) || !s.setsDefault(field) {
		return own
	}
	return "defaults." + field
}

func (s *ServiceConfig) setsDefault(field string) bool {
	return s.where("defaults."+field) != s.where("defaults")
}

// EnvNames are the environments the service is deployed to, sorted.
func (s *ServiceConfig) EnvNames() []string {
	var names []string
	for name, e := range s.Environments {
		if e.Enabled == nil || *e.Enabled {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// Resolve merges the defaults under one environment's settings: scalars
// and blocks from the environment win; env, config maps merge key by key.
func (s *ServiceConfig) Resolve(env string) EnvConfig {
	d, e := s.Defaults, s.Environments[env]
	out := d
	if e.Version != "" {
		out.Version = e.Version
	}
	out.Replicas = pick(e.Replicas, d.Replicas)
	out.Resources = pick(e.Resources, d.Resources)
	out.Autoscaling = pick(e.Autoscaling, d.Autoscaling)
	out.Rollout = pick(e.Rollout, d.Rollout)
	out.RateLimits = pick(e.RateLimits, d.RateLimits)
	out.Upload = pick(e.Upload, d.Upload)
	out.Migration = pick(e.Migration, d.Migration)
	out.AccessLog = pick(e.AccessLog, d.AccessLog)
	out.Env = mergeMaps(d.Env, e.Env)
	out.Config = mergeMaps(d.Config, e.Config)
	return out
}

func pick[T any](own, def *T) *T {
	if own != nil {
		return own
	}
	return def
}

func mergeMaps(base, over map[string]string) map[string]string {
	if len(base) == 0 && len(over) == 0 {
		return nil
	}
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, over)
	return out
}
