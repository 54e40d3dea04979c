package argo

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// GroupVersion is the API version of both kinds.
const GroupVersion = "argoproj.io/v1alpha1"

// Rollout is argoproj.io/v1alpha1 Rollout.
type Rollout struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              RolloutSpec `json:"spec"`
}

// RolloutSpec is a Deployment's spec with a canary strategy.
type RolloutSpec struct {
	Replicas             *int32                 `json:"replicas,omitempty"`
	Selector             *metav1.LabelSelector  `json:"selector"`
	Template             corev1.PodTemplateSpec `json:"template"`
	RevisionHistoryLimit *int32                 `json:"revisionHistoryLimit,omitempty"`
	Strategy             RolloutStrategy        `json:"strategy"`
}

// RolloutStrategy holds the canary strategy; blue-green is not generated.
type RolloutStrategy struct {
	Canary *CanaryStrategy `json:"canary,omitempty"`
}

// CanaryStrategy is Argo's canary with traffic routing.
type CanaryStrategy struct {
	CanaryService      string              `json:"canaryService,omitempty"`
	StableService      string              `json:"stableService,omitempty"`
	TrafficRouting     *TrafficRouting     `json:"trafficRouting,omitempty"`
	Steps              []CanaryStep        `json:"steps,omitempty"`
	MaxSurge           *intstr.IntOrString `json:"maxSurge,omitempty"`
	DynamicStableScale bool                `json:"dynamicStableScale,omitempty"`
}

// TrafficRouting routes the canary's share through Istio.
type TrafficRouting struct {
	Istio *IstioTrafficRouting `json:"istio,omitempty"`
}

// IstioTrafficRouting names the VirtualService and the HTTP routes in it
// whose weights Argo Rollouts sets.
type IstioTrafficRouting struct {
	VirtualService *IstioVirtualService `json:"virtualService,omitempty"`
}

// IstioVirtualService is a VirtualService and its managed routes.
type IstioVirtualService struct {
	Name   string   `json:"name"`
	Routes []string `json:"routes,omitempty"`
}

// CanaryStep is one step of a canary.
type CanaryStep struct {
	SetWeight      *int32          `json:"setWeight,omitempty"`
	Pause          *RolloutPause   `json:"pause,omitempty"`
	SetCanaryScale *SetCanaryScale `json:"setCanaryScale,omitempty"`
}

// RolloutPause pauses for Duration, or until promoted.
type RolloutPause struct {
	Duration *intstr.IntOrString `json:"duration,omitempty"`
}

// SetCanaryScale sizes the canary ReplicaSet.
type SetCanaryScale struct {
	MatchTrafficWeight bool `json:"matchTrafficWeight,omitempty"`
}

// Application is argoproj.io/v1alpha1 Application.
type Application struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ApplicationSpec `json:"spec"`
}

// ApplicationSpec says what to deploy where.
type ApplicationSpec struct {
	Project     string                 `json:"project"`
	Source      *ApplicationSource     `json:"source,omitempty"`
	Destination ApplicationDestination `json:"destination"`
	SyncPolicy  *SyncPolicy            `json:"syncPolicy,omitempty"`
}

// ApplicationSource is a path in a git repository.
type ApplicationSource struct {
	RepoURL        string `json:"repoURL"`
	Path           string `json:"path,omitempty"`
	TargetRevision string `json:"targetRevision,omitempty"`
}

// ApplicationDestination is a cluster and namespace.
type ApplicationDestination struct {
	Server    string `json:"server,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// SyncPolicy controls automated sync.
type SyncPolicy struct {
	Automated   *SyncPolicyAutomated `json:"automated,omitempty"`
	SyncOptions []string             `json:"syncOptions,omitempty"`
}

// SyncPolicyAutomated syncs on every change.
type SyncPolicyAutomated struct {
	Prune    bool `json:"prune,omitempty"`
	SelfHeal bool `json:"selfHeal,omitempty"`
}
