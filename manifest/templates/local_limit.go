package templates

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cutover-dev/cutover/manifest/config"
)

const (
	// NginxLimitPort is where the rate-limiting nginx takes the pod's
	// traffic; the Service targets it, and nginx passes on to the app.
	NginxLimitPort = 8090
	// AppPortName names the app's own port when nginx stands in front.
	AppPortName = "app"
	// NginxConfigHashAnnotation rolls the pods when the limit changes:
	// nginx does not read its config again by itself.
	NginxConfigHashAnnotation = "cutover.dev/nginx-config-hash"
	defaultNginxImage         = "nginx:1.27"
)

// nginxLimit is the environment's nginx local limit, nil without one.
func nginxLimit(in *Input) *config.NginxLimit {
	if rl := in.Config.RateLimits; rl != nil && rl.Local != nil {
		return rl.Local.Nginx
	}
	return nil
}

// NginxLimitConfig is nginx's limit_req in front of the app (handbook
// §13.2.2): one zone for the pod, as the handbook keys it, 429 for what
// overflows the burst, and a proxy that adds nothing else: no body limit
// (the app's), no buffering (streams stay streams), long timeouts (the
// app's own decide).
func NginxLimitConfig(in *Input, n *config.NginxLimit) string {
	zone := in.Name() + "_zone"
	delay := fmt.Sprintf("delay=%d", n.Delay)
	if n.Delay == n.Burst {
		delay = "nodelay"
	}
	return fmt.Sprintf(`worker_processes 1;
events { worker_connections 4096; }
http {
  access_log off;
  limit_req_zone %[1]s zone=%[1]s:1m rate=%[2]s;
  limit_req_status 429;
  client_max_body_size 0;
  proxy_request_buffering off;
  proxy_buffering off;
  proxy_read_timeout 300s;
  proxy_send_timeout 300s;
  upstream app {
    server 127.0.0.1:%[5]d;
    keepalive 32;
  }
  server {
    listen %[6]d;
    location / {
      limit_req zone=%[1]s burst=%[3]d %[4]s;
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }
}
`, zone, n.Rate, n.Burst, delay, in.Port(), NginxLimitPort)
}

// withNginxLimit puts nginx in front of the app container: the app's port
// is renamed so that the Service, which targets the port named http,
// reaches nginx; the probes still ask the app itself, past the limit.
func withNginxLimit(in *Input, app corev1.Container, pod *corev1.PodTemplateSpec) *corev1.ConfigMap {
	n := nginxLimit(in)
	if n == nil {
		return nil
	}
	conf := NginxLimitConfig(in, n)
	cm := &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: in.Meta(in.Name() + "-nginx"), Data: map[string]string{"nginx.conf": conf}}
	sum := sha256.Sum256([]byte(conf))
	pod.Annotations[NginxConfigHashAnnotation] = hex.EncodeToString(sum[:])[:32]
	image := n.Image
	if image == "" {
		image = defaultNginxImage
	}
	nginx := corev1.Container{
		Name: "sidecar-nginx", Image: image,
		Ports:          []corev1.ContainerPort{{Name: HTTPPortName, ContainerPort: NginxLimitPort, Protocol: corev1.ProtocolTCP}},
		Resources:      sidecarResources("100m", "64Mi"),
		VolumeMounts:   nginxMounts(),
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(HTTPPortName)}}, PeriodSeconds: 5},
		// The app's preStop sleep, so that nginx drains with it (the image
		// stops on SIGQUIT, nginx's graceful shutdown).
		Lifecycle: app.Lifecycle,
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if c.Name != app.Name {
			continue
		}
		for j := range c.Ports {
			if c.Ports[j].Name == HTTPPortName {
				c.Ports[j].Name = AppPortName
			}
		}
		for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
			if p != nil && p.HTTPGet != nil {
				p.HTTPGet.Port = intstr.FromString(AppPortName)
			}
		}
	}
	pod.Spec.Containers = append(pod.Spec.Containers, nginx)
	pod.Spec.Volumes = append(pod.Spec.Volumes, nginxVolumes(cm.Name)...)
	return cm
}

// nginxMounts are what an nginx sidecar mounts: its config, read-only, and
// the cache and run directories the image writes to.
func nginxMounts() []corev1.VolumeMount {
	return []corev1.VolumeMount{
		{Name: "nginx-conf", MountPath: "/etc/nginx", ReadOnly: true},
		{Name: "nginx-cache", MountPath: "/var/cache/nginx"},
		{Name: "nginx-run", MountPath: "/var/run"},
	}
}

// nginxVolumes are the volumes nginxMounts mounts, the config from configMap.
func nginxVolumes(configMap string) []corev1.Volume {
	return []corev1.Volume{configMapVolume("nginx-conf", configMap), emptyDir("nginx-cache"), emptyDir("nginx-run")}
}
