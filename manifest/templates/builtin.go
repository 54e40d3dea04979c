package templates

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Names of the built-in templates.
const (
	NodeBFFName         = "node-bff"
	RailsName           = "rails"
	StaticUploadJobName = "static-upload-job"
	IngressGatewayName  = "ingress-gateway"
)

func init() {
	Register(NodeBFF)
	Register(Rails)
	Register(StaticUploadJob)
	Register(IngressGateway)
}

// NodeBFF is a Node.js backend-for-frontend behind the ingress gateway:
// ConfigMap, Deployment or Rollout, Services, VirtualService, HPA, rate
// limit EnvoyFilters and, with upload set, the static upload Job that
// runs before the workload.
var NodeBFF = &Template{
	Name: NodeBFFName, Component: "bff", Port: 3000,
	Render: func(in *Input) ([]Object, error) {
		app := AppContainer(in)
		app.Env = append(app.Env, corev1.EnvVar{Name: "PORT", Value: fmt.Sprint(in.Port())})
		return webService(in, app)
	},
	Scaffold: webScaffold("node-bff", 3000, "NODE_ENV: production"),
}

// Rails is a Rails application: a web service like NodeBFF, plus a
// db:migrate Job in the sync wave before the workload.
var Rails = &Template{
	Name: RailsName, Component: "backend", Port: 3000,
	Render: func(in *Input) ([]Object, error) {
		app := AppContainer(in)
		app.Env = append(app.Env,
			corev1.EnvVar{Name: "RAILS_ENV", Value: in.Env},
			corev1.EnvVar{Name: "RAILS_LOG_TO_STDOUT", Value: "1"},
			corev1.EnvVar{Name: "PORT", Value: fmt.Sprint(in.Port())})
		objs, err := webService(in, app)
		if err != nil {
			return nil, err
		}
		migrate := corev1.Container{
			Name: "db-migrate", Image: in.Image(), Command: []string{"bin/rails", "db:migrate"},
			Env: app.Env, Resources: app.Resources,
		}
		job := OneShotJob(in, in.Name()+"-db-migrate-"+versionSuffix(in.Config.Version), migrate)
		return append(objs, job), nil
	},
	Scaffold: webScaffold("rails", 3000, "RAILS_MAX_THREADS: \"5\""),
}

// StaticUploadJob is a release's static files copied to object storage by
// a Job (handbook §19.2), on its own.
var StaticUploadJob = &Template{
	Name: StaticUploadJobName, Component: "static",
	Render: func(in *Input) ([]Object, error) {
		if in.Config.Upload == nil {
			return nil, in.Fail("upload", "the %s template needs upload", StaticUploadJobName)
		}
		return []Object{UploadJob(in)}, nil
	},
	Scaffold: `# config/%s.yaml: a static upload Job (handbook §19.2). Generated files
# are written by "cutover generate"; edit only this file.
template: static-upload-job
image: registry.example.com/frontend/static-upload
defaults:
  resources:
    requests: {cpu: 100m, memory: 128Mi}
    limits: {cpu: 500m, memory: 256Mi}
  upload:
    bucket: static-example-com
    region: ap-northeast-1
    package: "@example/web-assets"
    packageDistDir: dist
    destination: web
environments:
  development: {version: 1.0.0}
  production: {version: 1.0.0}
`,
}

// IngressGateway is an Istio ingress gateway deployed by gateway injection,
// with the nginx access-log and fluent-bit sidecars of handbook §10.2.3,
// on the gateway nodes, plus the Istio Gateway the services attach to.
var IngressGateway = &Template{
	Name: IngressGatewayName, Component: "ingress-gateway", Port: 8080,
	Render: func(in *Input) ([]Object, error) {
		// Traffic reaches nginx first (the Service targets its port), so
		// that every request is logged; nginx passes it to the gateway.
		proxy := corev1.Container{
			Name: "istio-proxy", Image: "auto", Resources: Requirements(in),
			Ports: []corev1.ContainerPort{{Name: "gateway", ContainerPort: int32(in.Port()), Protocol: corev1.ProtocolTCP}},
		}
		nginx := corev1.Container{
			Name: "sidecar-nginx", Image: "nginx:" + in.Config.Version,
			Ports:        []corev1.ContainerPort{{Name: HTTPPortName, ContainerPort: GatewayNginxPort, Protocol: corev1.ProtocolTCP}},
			Resources:    sidecarResources("100m", "128Mi"),
			VolumeMounts: append(nginxMounts(), corev1.VolumeMount{Name: "log-socket", MountPath: "/tmp/sidecar-nginx"}),
		}
		fluentBit := corev1.Container{
			Name: "sidecar-fluent-bit", Image: "fluent/fluent-bit:3.2",
			Ports:     []corev1.ContainerPort{{Name: "fluent-bit", ContainerPort: 2020, Protocol: corev1.ProtocolTCP}},
			Resources: sidecarResources("150m", "128Mi"),
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/api/v1/metrics/prometheus", Port: intstr.FromString("fluent-bit"),
			}}, TimeoutSeconds: 3, FailureThreshold: 3},
			VolumeMounts: []corev1.VolumeMount{
				{Name: "fluent-bit-conf", MountPath: "/fluent-bit/etc", ReadOnly: true},
				{Name: "log-socket", MountPath: "/tmp/sidecar-nginx"},
				{Name: "access-log", MountPath: accessLogDirectory(in.Config.AccessLog)},
			},
		}
		pod := PodTemplate(in, in.Defs.NodeRoles.Gateway, proxy, nginx, fluentBit)
		// Istio fills the proxy container in from its gateway template.
		pod.Annotations["inject.istio.io/templates"] = "gateway"
		pod.Labels[SidecarInject] = "true"
		maps.Copy(pod.Labels, in.Defs.Gateway.Selector)
		for _, k := range slices.Sorted(maps.Keys(pod.Annotations)) {
			if strings.HasPrefix(k, "sidecar.istio.io/proxy") {
				delete(pod.Annotations, k) // the gateway's proxy is sized by its own container
			}
		}
		nginxConf, fluentConf := in.Meta(in.Name()+"-nginx"), in.Meta(in.Name()+"-fluent-bit")
		pod.Spec.Volumes = append(pod.Spec.Volumes,
			configMapVolume("nginx-conf", nginxConf.Name), configMapVolume("fluent-bit-conf", fluentConf.Name),
			emptyDir("nginx-cache"), emptyDir("nginx-run"), emptyDir("log-socket"),
			// On the node, where the collector that was there before reads it.
			corev1.Volume{Name: "access-log", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: accessLogDirectory(in.Config.AccessLog), Type: ptr.To(corev1.HostPathDirectoryOrCreate),
			}}})
		workload := Workload(in, pod)
		objs := []Object{workload, Gateway(in),
			&corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: nginxConf, Data: map[string]string{"nginx.conf": gatewayNginxConfig(in.Port(), in.Config.AccessLog)}},
			&corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: fluentConf, Data: fluentBitConfig(accessLogDirectory(in.Config.AccessLog))},
		}
		if cm, _ := ConfigMap(in); cm != nil {
			objs = append(objs, cm)
		}
		svcs := Services(in, corev1.ServiceTypeLoadBalancer)
		for _, s := range svcs {
			// The pods' stable labels, and the selector Istio's Gateway uses.
			sel := in.Selector()
			maps.Copy(sel, in.Defs.Gateway.Selector)
			s.(*corev1.Service).Spec.Selector = sel
		}
		objs = append(objs, svcs...)
		if hpa := HPA(in, workload); hpa != nil {
			objs = append(objs, hpa)
		}
		return objs, nil
	},
	Scaffold: `# config/%s.yaml: the Istio ingress gateway with nginx access logs and
# fluent-bit (handbook §10.2.3). Edit only this file.
template: ingress-gateway
image: docker.io/istio/proxyv2
defaults:
  version: 1.27.3   # the nginx sidecar's version
  resources:
    requests: {cpu: "1", memory: 1Gi}
    limits: {cpu: "2", memory: 1Gi}
  autoscaling: {minReplicas: 2, maxReplicas: 6, targetCPUUtilization: 70}
environments:
  development: {}
  production:
    autoscaling: {minReplicas: 4, maxReplicas: 12, targetCPUUtilization: 70}
`,
}

// webService is the shared shape of NodeBFF and Rails.
func webService(in *Input, app corev1.Container) ([]Object, error) {
	pod := PodTemplate(in, in.Defs.NodeRoles.Worker, app)
	nginxConf := withNginxLimit(in, app, &pod)
	workload := Workload(in, pod)
	var objs []Object
	if cm, _ := ConfigMap(in); cm != nil {
		objs = append(objs, cm)
	}
	if nginxConf != nil {
		objs = append(objs, nginxConf)
	}
	if job := UploadJob(in); job != nil {
		objs = append(objs, job)
	}
	objs = append(objs, workload)
	objs = append(objs, Services(in, corev1.ServiceTypeClusterIP)...)
	if len(in.Service.Hosts) > 0 {
		objs = append(objs, VirtualService(in))
	}
	if co := Cutover(in); co != nil {
		objs = append(objs, co)
	}
	if hpa := HPA(in, workload); hpa != nil {
		objs = append(objs, hpa)
	}
	filters, err := RateLimitFilters(in)
	if err != nil {
		return nil, err
	}
	return append(objs, filters...), nil
}

func sidecarResources(cpu, memory string) corev1.ResourceRequirements {
	l := resourceList(cpu, memory)
	return corev1.ResourceRequirements{Requests: l, Limits: l}
}

func configMapVolume(name, configMap string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMap}},
	}}
}

func emptyDir(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

func webScaffold(template string, port int, env string) string {
	return `# config/%s.yaml: the only file to edit for this service; "cutover generate"
# writes overlays/, argocd/ and report/ from it.
template: ` + template + `
image: registry.example.com/frontend/%[1]s
port: ` + fmt.Sprint(port) + `
# Host names on each environment's domain, and the path prefixes routed here.
hosts: [www]
paths: [/%[1]s]
# Defaults for every environment; an environment's own values win.
defaults:
  replicas: 2
  resources:
    requests: {cpu: 250m, memory: 256Mi}
    limits: {cpu: 500m, memory: 512Mi}
  env:
    ` + env + `
environments:
  development:
    version: 1.0.0
  production:
    version: 1.0.0
    autoscaling: {minReplicas: 3, maxReplicas: 10, targetCPUUtilization: 80}
    # Argo Rollouts canary steps (handbook §7.3); without them, a Deployment.
    rollout:
      steps:
      - setWeight: 34
      - setCanaryScale: {matchTrafficWeight: true}
      - pause: {duration: 60s}
      - setWeight: 67
      - setCanaryScale: {matchTrafficWeight: true}
      - pause: {duration: 60s}
`
}
