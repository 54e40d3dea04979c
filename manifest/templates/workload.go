package templates

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/cutover-dev/cutover/manifest/argo"
	"github.com/cutover-dev/cutover/spec"
)

// Annotation and label keys the templates write.
const (
	// ConfigHashAnnotation carries the ConfigMap's content hash on the pod
	// template, so that a config change rolls the pods (handbook §5.3.1).
	ConfigHashAnnotation = "cutover.dev/config-hash"
	SyncWaveAnnotation   = "argocd.argoproj.io/sync-wave"
	SidecarInject        = "sidecar.istio.io/inject"
	// HTTPPortName names the container port Services target.
	HTTPPortName = "http"
)

// Building blocks the templates share; a team's own templates can use them.

// ConfigMap holds the environment's config, or is nil when there is none.
// The second result is its content hash.
func ConfigMap(in *Input) (*corev1.ConfigMap, string) {
	if len(in.Config.Config) == 0 {
		return nil, ""
	}
	cm := &corev1.ConfigMap{
		TypeMeta:   typeMeta("v1", "ConfigMap"),
		ObjectMeta: in.Meta(in.Name()),
		Data:       maps.Clone(in.Config.Config),
	}
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
		fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(cm.Data[k]), cm.Data[k])
	}
	return cm, hex.EncodeToString(h.Sum(nil))[:32]
}

// AppContainer is the service's own container: image, port, env, resources,
// probes and a preStop sleep.
func AppContainer(in *Input) corev1.Container {
	c := corev1.Container{
		Name:      in.Name(),
		Image:     in.Image(),
		Env:       envVars(in.Config.Env),
		Resources: Requirements(in),
	}
	if port := in.Port(); port != 0 {
		c.Ports = []corev1.ContainerPort{{Name: HTTPPortName, ContainerPort: int32(port), Protocol: corev1.ProtocolTCP}}
		probe := &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: in.Defs.HealthPath, Port: intstr.FromString(HTTPPortName),
			}},
			PeriodSeconds: 5, FailureThreshold: 3, TimeoutSeconds: 2,
		}
		c.ReadinessProbe = probe
		live := *probe
		live.PeriodSeconds, live.FailureThreshold = 10, 6
		c.LivenessProbe = &live
	}
	if s := in.Defs.Shutdown.PreStopSleepSeconds; s > 0 {
		c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
			Sleep: &corev1.SleepAction{Seconds: int64(s)},
		}}
	}
	if len(in.Config.Config) > 0 {
		c.VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: "/etc/" + in.Name(), ReadOnly: true}}
	}
	return c
}

// Requirements converts the config's requests and limits. Quantities were
// checked by Validate before any template runs.
func Requirements(in *Input) corev1.ResourceRequirements {
	r := in.Config.Resources
	if r == nil {
		return corev1.ResourceRequirements{}
	}
	return corev1.ResourceRequirements{Requests: resourceList(r.Requests.CPU, r.Requests.Memory), Limits: resourceList(r.Limits.CPU, r.Limits.Memory)}
}

func resourceList(cpu, memory string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if q, err := resource.ParseQuantity(cpu); err == nil && cpu != "" {
		l[corev1.ResourceCPU] = q
	}
	if q, err := resource.ParseQuantity(memory); err == nil && memory != "" {
		l[corev1.ResourceMemory] = q
	}
	if len(l) == 0 {
		return nil
	}
	return l
}

func envVars(env map[string]string) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, corev1.EnvVar{Name: k, Value: env[k]})
	}
	return out
}

// PodTemplate wraps containers with the labels, the config hash, the
// sidecar's size, the node role, spreading across nodes (handbook §18) and
// the grace period.
func PodTemplate(in *Input, nodeRole string, containers ...corev1.Container) corev1.PodTemplateSpec {
	ann := map[string]string{}
	if s := in.Defs.Sidecar; s.CPU != "" {
		ann["sidecar.istio.io/proxyCPU"] = s.CPU
		ann["sidecar.istio.io/proxyMemory"] = s.Memory
		ann["sidecar.istio.io/proxyCPULimit"] = s.CPULimit
		ann["sidecar.istio.io/proxyMemoryLimit"] = s.MemoryLimit
	}
	spec := corev1.PodSpec{
		Containers:                    containers,
		TerminationGracePeriodSeconds: ptr.To(int64(in.Defs.Shutdown.TerminationGracePeriodSeconds)),
		NodeSelector:                  map[string]string{in.Defs.NodeRoles.LabelKey: nodeRole},
		Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight: 1,
				PodAffinityTerm: corev1.PodAffinityTerm{
					TopologyKey: "kubernetes.io/hostname",
					LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
						Key: "app.kubernetes.io/name", Operator: metav1.LabelSelectorOpIn, Values: []string{in.Name()},
					}}},
				},
			}},
		}},
	}
	if cm, hash := ConfigMap(in); cm != nil {
		ann[ConfigHashAnnotation] = hash
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}},
		}})
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: in.Labels(), Annotations: ann},
		Spec:       spec,
	}
}

// Workload is a Deployment, or an Argo Rollout with Istio traffic routing
// when the environment has rollout steps.
func Workload(in *Input, pod corev1.PodTemplateSpec) Object {
	var replicas *int32
	if in.Config.Autoscaling == nil {
		replicas = ptr.To(int32(ptr.Deref(in.Config.Replicas, 1)))
	}
	selector := &metav1.LabelSelector{MatchLabels: in.Selector()}
	if ro := in.Config.Rollout; ro != nil {
		r := &argo.Rollout{
			TypeMeta:   typeMeta(argo.GroupVersion, "Rollout"),
			ObjectMeta: in.Meta(in.Name()),
			Spec: argo.RolloutSpec{
				Replicas: replicas, Selector: selector, Template: pod, RevisionHistoryLimit: ptr.To(int32(3)),
				Strategy: argo.RolloutStrategy{Canary: &argo.CanaryStrategy{
					StableService: in.Name() + "-stable",
					CanaryService: in.Name() + "-canary",
					TrafficRouting: &argo.TrafficRouting{Istio: &argo.IstioTrafficRouting{
						VirtualService: &argo.IstioVirtualService{Name: in.Name(), Routes: []string{PrimaryRoute(in)}},
					}},
					MaxSurge:           ptr.To(intstr.FromString("33%")),
					DynamicStableScale: ptr.Deref(ro.DynamicStableScale, true),
				}},
			},
		}
		for _, s := range ro.Steps {
			step := argo.CanaryStep{}
			if s.SetWeight != nil {
				step.SetWeight = ptr.To(int32(*s.SetWeight))
			}
			if s.Pause != nil {
				step.Pause = &argo.RolloutPause{}
				if s.Pause.Duration != nil {
					step.Pause.Duration = ptr.To(intstr.FromString(ArgoDuration(s.Pause.Duration.D())))
				}
			}
			if s.SetCanaryScale != nil {
				step.SetCanaryScale = &argo.SetCanaryScale{MatchTrafficWeight: s.SetCanaryScale.MatchTrafficWeight}
			}
			r.Spec.Strategy.Canary.Steps = append(r.Spec.Strategy.Canary.Steps, step)
		}
		return r
	}
	return &appsv1.Deployment{
		TypeMeta:   typeMeta("apps/v1", "Deployment"),
		ObjectMeta: in.Meta(in.Name()),
		Spec: appsv1.DeploymentSpec{
			Replicas: replicas, Selector: selector, Template: pod, RevisionHistoryLimit: ptr.To(int32(3)),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromString("25%")),
			}},
		},
	}
}

// ArgoDuration writes d in the largest whole unit Argo Rollouts reads:
// 1h, 5m, 90s.
func ArgoDuration(d time.Duration) string { return spec.PauseDuration(roundUpToSecond(d)).String() }

// roundUpToSecond: Argo's durations are in whole seconds at least.
func roundUpToSecond(d time.Duration) time.Duration {
	return (d + time.Second - 1) / time.Second * time.Second
}

// ServiceNames are the Services a workload is reached through: one, or the
// stable and canary pair of a Rollout.
func ServiceNames(in *Input) []string {
	if in.Config.Rollout != nil {
		return []string{in.Name() + "-stable", in.Name() + "-canary"}
	}
	return []string{in.Name()}
}

// Services select the workload's pods by the selector labels and target the
// container port named http.
func Services(in *Input, serviceType corev1.ServiceType) []Object {
	var out []Object
	for _, name := range ServiceNames(in) {
		out = append(out, &corev1.Service{
			TypeMeta:   typeMeta("v1", "Service"),
			ObjectMeta: in.Meta(name),
			Spec: corev1.ServiceSpec{
				Type:     serviceType,
				Selector: in.Selector(),
				Ports: []corev1.ServicePort{{
					Name: HTTPPortName, Port: int32(in.Defs.ServicePort), Protocol: corev1.ProtocolTCP,
					TargetPort: intstr.FromString(HTTPPortName),
				}},
			},
		})
	}
	return out
}

// HPA scales the workload, or is nil without autoscaling.
func HPA(in *Input, target Object) *autoscalingv2.HorizontalPodAutoscaler {
	a := in.Config.Autoscaling
	if a == nil {
		return nil
	}
	gvk := target.GetObjectKind().GroupVersionKind()
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   typeMeta("autoscaling/v2", "HorizontalPodAutoscaler"),
		ObjectMeta: in.Meta(in.Name()),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{
				APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: target.GetName(),
			},
			MinReplicas: ptr.To(int32(a.MinReplicas)),
			MaxReplicas: int32(a.MaxReplicas),
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{
						Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(a.TargetCPUUtilization)),
					},
				},
			}},
		},
	}
}

// UploadJob copies the release's static files to object storage before the
// workload is applied (handbook §19.2). Its name carries the version, so
// each release uploads once.
func UploadJob(in *Input) *batchv1.Job {
	u := in.Config.Upload
	if u == nil {
		return nil
	}
	name := in.Name() + "-upload-" + versionSuffix(in.Config.Version)
	if in.Template.Name == StaticUploadJobName {
		name = in.Name() + "-" + versionSuffix(in.Config.Version)
	}
	c := corev1.Container{
		Name:  "upload",
		Image: in.Image(),
		Env: envVars(map[string]string{
			"S3_BUCKET": u.Bucket, "S3_REGION": u.Region,
			"NPM_PACKAGE_NAME": u.Package, "NPM_PACKAGE_VERSION": in.Config.Version,
			"NPM_PACKAGE_DIST_DIR": u.PackageDistDir, "UPLOAD_DIST_DIR": u.Destination,
		}),
		Resources: Requirements(in),
	}
	if in.Template.Name != StaticUploadJobName {
		c.Image = in.Service.Image + "-upload:" + in.Config.Version
	}
	return OneShotJob(in, name, c)
}

// OneShotJob runs c once in the sync wave before the workload, without an
// istio-proxy sidecar (which would keep the pod from completing, handbook
// §9.4.1), and is removed a day after it finished.
func OneShotJob(in *Input, name string, c corev1.Container) *batchv1.Job {
	meta := in.Meta(name)
	meta.Annotations = map[string]string{SyncWaveAnnotation: "-1"}
	return &batchv1.Job{
		TypeMeta:   typeMeta("batch/v1", "Job"),
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			TTLSecondsAfterFinished: ptr.To(int32(86400)),
			BackoffLimit:            ptr.To(int32(3)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: in.Labels(), Annotations: map[string]string{SidecarInject: "false"}},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{c},
					NodeSelector:  map[string]string{in.Defs.NodeRoles.LabelKey: in.Defs.NodeRoles.Worker},
				},
			},
		},
	}
}

// versionSuffix makes a version usable in a name: 1.2.0 → v1-2-0.
func versionSuffix(v string) string {
	return "v" + strings.NewReplacer(".", "-", "+", "-", "_", "-").Replace(strings.ToLower(v))
}
