package templates

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/cutover-dev/cutover/manifest/config"
	"github.com/cutover-dev/cutover/ratelimit/rls"
)

// RateLimitTemplate is what the rate-limit service is rendered as; it is
// generated from the definitions, not named in a service's config.
var RateLimitTemplate = &Template{Name: "ratelimit-service", Component: "ratelimit", Port: 8080}

// Ports of `cutover ratelimit serve` in the generated Deployment, the
// same as envoyproxy/ratelimit's.
const (
	rateLimitHTTPPort = 8080
	rateLimitGRPCPort = 8081
)

// RateLimitSetup is one environment's global rate limit: the one domain
// of its gateway, the failure mode, and the limits of every service that
// has a global limit, merged.
type RateLimitSetup struct {
	Env             string
	Domain          string
	FailureModeDeny bool
	Descriptors     []rls.Descriptor
	// VirtualHosts are the gateway's virtual hosts with the request
	// headers each sends as a descriptor, each pair once, however many
	// services on the host ask for it: Envoy would send a descriptor twice,
	// and count it twice, for two equal actions.
	VirtualHosts []RateLimitActions
}

// RateLimitActions are the request headers a virtual host sends as one
// descriptor.
type RateLimitActions struct {
	VirtualHost string
	Headers     []string
}

// RateLimitInput is the rate-limit service as a service of the
// environment, for the shared workload helpers.
func RateLimitInput(defs *Definitions, env string) *Input {
	r := defs.RateLimitService
	version := "latest"
	if i := strings.LastIndex(r.Image, ":"); i > strings.LastIndex(r.Image, "/") {
		version = r.Image[i+1:]
	}
	svc := &config.ServiceConfig{Name: r.Name, Template: RateLimitTemplate.Name, Image: r.Image, Port: rateLimitHTTPPort, File: defs.File}
	if svc.File == "" {
		svc.File = "config/" + config.DefinitionsFile + ".yaml"
	}
	return &Input{Service: svc, Template: RateLimitTemplate, Env: env, Defs: defs,
		Config: config.EnvConfig{Version: version, Replicas: ptr.To(max(r.Replicas, 1))}}
}

// RateLimitServiceObjects are the environment's rate-limit service
// (handbook §12.2): the ConfigMap of the merged limits, the Deployment of
// `cutover ratelimit serve` reading it (it reloads on change, so a new
// limit does not restart the pods), its Service with the gRPC port Istio's
// EDS cluster names, and the gateway's one rate-limit filter, whatever the
// number of services using it. With deploy false, only the filter.
func RateLimitServiceObjects(defs *Definitions, s RateLimitSetup) ([]Object, error) {
	in := RateLimitInput(defs, s.Env)
	r := defs.RateLimitService
	filter, err := gatewayRateLimitFilter(in, s)
	if err != nil {
		return nil, err
	}
	if !r.Deployed() {
		return []Object{filter}, nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(rls.File{Domain: s.Domain, Descriptors: s.Descriptors}); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	cm := &corev1.ConfigMap{
		TypeMeta:   typeMeta("v1", "ConfigMap"),
		ObjectMeta: in.Meta(r.Name + "-config"),
		Data:       map[string]string{s.Domain + ".yaml": string(data)},
	}
	args := []string{"ratelimit", "serve", "--config-dir", "/etc/ratelimit", "--redis-type", r.Redis.Type,
		"--grpc", fmt.Sprintf(":%d", rateLimitGRPCPort), "--http", fmt.Sprintf(":%d", rateLimitHTTPPort), "--log-format", "json"}
	if addr := r.Redis.Address; r.Redis.Type == "sentinel" {
		args = append(args, "--redis-sentinel", addr)
	} else {
		args = append(args, "--redis", addr)
	}
	if s.FailureModeDeny {
		args = append(args, "--failure-mode", "deny")
	}
	c := corev1.Container{
		Name: r.Name, Image: r.Image, Args: args,
		Ports: []corev1.ContainerPort{
			{Name: HTTPPortName, ContainerPort: rateLimitHTTPPort, Protocol: corev1.ProtocolTCP},
			{Name: "grpc", ContainerPort: rateLimitGRPCPort, Protocol: corev1.ProtocolTCP},
		},
		Resources:    sidecarResources("100m", "64Mi"),
		VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/ratelimit", ReadOnly: true}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString(HTTPPortName)}},
			PeriodSeconds: 5, FailureThreshold: 3, TimeoutSeconds: 2,
		},
		LivenessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString(HTTPPortName)}},
			PeriodSeconds: 10, FailureThreshold: 6, TimeoutSeconds: 2,
		},
	}
	if sk := r.Redis.AuthSecret; sk != nil {
		// The service reads envoyproxy/ratelimit's variable where no flag is given.
		c.Env = append(c.Env, secretEnv("REDIS_AUTH", sk))
	}
	if r.Redis.TLS {
		c.Args = append(c.Args, "--redis-tls")
		if sk := r.Redis.CASecret; sk != nil {
			c.Args = append(c.Args, "--redis-tls-ca", "/etc/ratelimit-redis-ca/"+sk.Key)
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "redis-ca", MountPath: "/etc/ratelimit-redis-ca", ReadOnly: true})
		}
	}
	pod := PodTemplate(in, defs.NodeRoles.Worker, c)
	pod.Spec.Volumes = append(pod.Spec.Volumes, configMapVolume("config", cm.Name))
	if sk := r.Redis.CASecret; r.Redis.TLS && sk != nil {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "redis-ca", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: sk.Name},
		}})
	}
	svc := &corev1.Service{
		TypeMeta:   typeMeta("v1", "Service"),
		ObjectMeta: in.Meta(r.Name),
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, Selector: in.Selector(),
			// grpc- and http- prefixes tell Istio the protocols.
			Ports: []corev1.ServicePort{
				{Name: "http-ratelimit-svc", Port: rateLimitHTTPPort, TargetPort: intstr.FromString(HTTPPortName), Protocol: corev1.ProtocolTCP},
				{Name: "grpc-ratelimit-svc", Port: rateLimitGRPCPort, TargetPort: intstr.FromString("grpc"), Protocol: corev1.ProtocolTCP},
			},
		},
	}
	return []Object{cm, Workload(in, pod), svc, filter}, nil
}

func secretEnv(name string, sk *SecretKey) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: sk.Name}, Key: sk.Key,
	}}}
}

// gatewayRateLimitFilter inserts the one rate-limit HTTP filter into the
// gateway, before the router, and the services' actions into its virtual
// hosts.
func gatewayRateLimitFilter(in *Input, s RateLimitSetup) (Object, error) {
	r := in.Defs.RateLimitService
	cluster, authority := r.ClusterIn(in.Namespace())
	patches := []any{map[string]any{
		"applyTo": "HTTP_FILTER",
		"match": map[string]any{
			"context": "GATEWAY",
			"listener": map[string]any{"filterChain": map[string]any{"filter": map[string]any{
				"name": "envoy.filters.network.http_connection_manager", "subFilter": map[string]any{"name": "envoy.filters.http.router"},
			}}},
		},
		"patch": map[string]any{
			"operation": "INSERT_BEFORE",
			"value": map[string]any{
				"name": "envoy.filters.http.ratelimit",
				"typed_config": map[string]any{
					"@type":             "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit",
					"domain":            s.Domain,
					"failure_mode_deny": s.FailureModeDeny,
					"timeout":           r.Timeout,
					"rate_limit_service": map[string]any{
						"grpc_service":          map[string]any{"envoy_grpc": map[string]any{"cluster_name": cluster, "authority": authority}},
						"transport_api_version": "V3",
					},
				},
			},
		},
	}}
	for _, v := range s.VirtualHosts {
		var actions []any
		for _, h := range v.Headers {
			actions = append(actions, map[string]any{"request_headers": map[string]any{"header_name": h, "descriptor_key": h}})
		}
		patches = append(patches, map[string]any{
			"applyTo": "VIRTUAL_HOST",
			"match":   map[string]any{"context": "GATEWAY", "routeConfiguration": map[string]any{"vhost": map[string]any{"name": v.VirtualHost}}},
			"patch":   map[string]any{"operation": "MERGE", "value": map[string]any{"rate_limits": []any{map[string]any{"actions": actions}}}},
		})
	}
	f, err := envoyFilter(in, r.Name+"-gateway", map[string]any{
		"workloadSelector": map[string]any{"labels": in.Defs.Gateway.Selector},
		"configPatches":    patches,
	})
	if err != nil {
		return nil, err
	}
	// An EnvoyFilter applies to the workloads of its own namespace.
	f.Namespace = in.Defs.Gateway.Namespace
	return f, nil
}
