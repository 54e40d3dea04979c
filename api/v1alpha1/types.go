// Package v1alpha1 is the Cutover custom resource: a cutover plan run by
// `cutover controller` on Kubernetes, with Istio or the Gateway API moving
// the traffic.
//
// +kubebuilder:object:generate=true
// +groupName=cutover.dev
package v1alpha1

//go:generate go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0 object paths=. crd:crdVersions=v1 output:crd:dir=../../deploy/crd

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cutover-dev/cutover/spec"
)

// GroupVersion is the API group and version of the cutover.yaml documents.
var GroupVersion = schema.GroupVersion{Group: "cutover.dev", Version: "v1alpha1"}

// AddToScheme registers Cutover with a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Cutover{}, &CutoverList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Cutover moves a route's traffic from stable to canary step by step.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=co
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Step",type=integer,JSONPath=`.status.currentStepIndex`
// +kubebuilder:printcolumn:name="Weight",type=integer,JSONPath=`.status.canaryWeight`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Cutover struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CutoverSpec   `json:"spec"`
	Status CutoverStatus `json:"status,omitempty"`
}

// CutoverList is a list of Cutovers.
//
// +kubebuilder:object:root=true
type CutoverList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Cutover `json:"items"`
}

// CutoverSpec is the plan of a cutover.yaml Rollout plus where the traffic
// is routed.
type CutoverSpec struct {
	// Stable is where the traffic is now.
	Stable Side `json:"stable"`
	// Canary is where it is going.
	Canary Side `json:"canary"`
	// Strategy is Argo Rollouts' canary or blueGreen strategy, in
	// cutover.yaml's types (the sides are Stable and Canary).
	Strategy spec.Strategy `json:"strategy"`
	// AnalysisTemplates are the templates the steps' analyses name, in
	// cutover.yaml's AnalysisTemplate format.
	// +optional
	AnalysisTemplates []AnalysisTemplate `json:"analysisTemplates,omitempty"`
	// TrafficRouting says which mesh object carries the weights.
	TrafficRouting TrafficRouting `json:"trafficRouting"`
	// Notifications are the webhooks told about the plan's changes.
	// +optional
	// +listType=map
	// +listMapKey=name
	Notifications []spec.Notification `json:"notifications,omitempty"`
}

// Side is a Kubernetes Service in the Cutover's namespace, or a host
// outside the cluster (the legacy side of a migration).
// +kubebuilder:validation:XValidation:rule="has(self.service) != has(self.externalHost)",message="set exactly one of service and externalHost"
type Side struct {
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Service string `json:"service,omitempty"`
	// ExternalHost is a DNS name outside the cluster. With Istio it gets a
	// ServiceEntry; with the Gateway API, a Service and an EndpointSlice.
	// +optional
	ExternalHost string `json:"externalHost,omitempty"`
	// Port of the external host.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
}

// AnalysisTemplate is a named set of metrics in cutover.yaml's format;
// the controller checks it and reports problems by field path.
type AnalysisTemplate struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Spec runtime.RawExtension `json:"spec"`
}

// TrafficRouting names the mesh object whose weights the plan sets.
// +kubebuilder:validation:XValidation:rule="has(self.istio) != has(self.gatewayAPI)",message="set exactly one of istio and gatewayAPI"
type TrafficRouting struct {
	// +optional
	Istio *IstioRouting `json:"istio,omitempty"`
	// +optional
	GatewayAPI *GatewayAPIRouting `json:"gatewayAPI,omitempty"`
}

// IstioRouting is a VirtualService's named HTTP routes and, optionally, a
// DestinationRule whose subsets tell stable from canary.
type IstioRouting struct {
	VirtualService IstioVirtualService `json:"virtualService"`
	// +optional
	DestinationRule *IstioDestinationRule `json:"destinationRule,omitempty"`
}

// IstioVirtualService names the VirtualService and its managed routes.
type IstioVirtualService struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +kubebuilder:validation:MinItems=1
	Routes []string `json:"routes"`
}

// IstioDestinationRule names the subsets.
type IstioDestinationRule struct {
	Name         string `json:"name"`
	StableSubset string `json:"stableSubset"`
	CanarySubset string `json:"canarySubset"`
}

// GatewayAPIRouting is an HTTPRoute and, optionally, its managed rules.
type GatewayAPIRouting struct {
	HTTPRoute HTTPRouteRef `json:"httpRoute"`
}

// HTTPRouteRef names an HTTPRoute and the rules whose weights the plan
// sets; without rules, every rule that refers to both sides.
type HTTPRouteRef struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	Rules []string `json:"rules,omitempty"`
}

// CutoverStatus is where the plan is.
type CutoverStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Phase: Progressing, Paused, Analyzing, Completed, Aborted, Degraded,
	// or Invalid for a spec the controller refused.
	// +optional
	Phase string `json:"phase,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	CurrentStepIndex int32 `json:"currentStepIndex"`
	// +optional
	StableWeight int32 `json:"stableWeight"`
	// +optional
	CanaryWeight int32 `json:"canaryWeight"`
	// DecommissionFrom is when a completed blueGreen's stable side, kept
	// ready to take the traffic back for scaleDownDelaySeconds, may go.
	// +optional
	DecommissionFrom *metav1.Time `json:"decommissionFrom,omitempty"`
	// Verdicts of the analysis runs, latest first.
	// +optional
	Verdicts []Verdict `json:"verdicts,omitempty"`
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastCommand is the outcome of the last command the CLI sent.
	// +optional
	LastCommand *CommandResult `json:"lastCommand,omitempty"`
	// Engine is the plan's full state, from which a restarted controller
	// resumes.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Engine runtime.RawExtension `json:"engine,omitempty"`
}

// Verdict is one analysis run's outcome.
type Verdict struct {
	Step    int32  `json:"step"`
	Phase   string `json:"phase"`
	Message string `json:"message,omitempty"`
}

// CommandResult says how a command ended.
type CommandResult struct {
	ID      string `json:"id"`
	Command string `json:"command"`
	// +optional
	Error string `json:"error,omitempty"`
}

// Condition types the controller sets.
const (
	ConditionProgressing = "Progressing"
	ConditionPaused      = "Paused"
	ConditionHealthy     = "Healthy"
	ConditionCompleted   = "Completed"
	ConditionAborted     = "Aborted"
)

// CommandAnnotation carries a command from the CLI to the controller, as
// JSON {"id", "command", "full", "force", "toStep", "actor"}; the
// controller carries it out, writes status.lastCommand and removes it.
const CommandAnnotation = "cutover.dev/command"

// SetCondition sets or updates a condition.
func (s *CutoverStatus) SetCondition(c metav1.Condition) { meta.SetStatusCondition(&s.Conditions, c) }
