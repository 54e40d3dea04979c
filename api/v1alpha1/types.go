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
	"k8s.io/apimachinery/pkg/util/intstr"
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
	// Strategy holds Argo Rollouts' canary steps and analysis.
	Strategy Strategy `json:"strategy"`
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
	Notifications []Notification `json:"notifications,omitempty"`
}

// Notification is a webhook told about the plan's changes, as in
// cutover.yaml.
// +kubebuilder:validation:XValidation:rule="has(self.url) != has(self.urlSecretRef)",message="set exactly one of url and urlSecretRef"
type Notification struct {
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:Pattern=`^https?://`
	URL string `json:"url,omitempty"`
	// URLSecretRef is a key of a Secret that holds the URL (a Slack
	// webhook's URL is a secret).
	// +optional
	URLSecretRef *SecretKeyRef `json:"urlSecretRef,omitempty"`
	// Format is json (the default) or slack.
	// +optional
	// +kubebuilder:validation:Enum=json;slack
	Format string `json:"format,omitempty"`
	// Events are the changes it wants; all when empty.
	// +optional
	Events []NotificationEvent `json:"events,omitempty"`
}

// NotificationEvent is a change a webhook can ask for.
// +kubebuilder:validation:Enum=stepStarted;paused;analysisVerdict;promoted;aborted;completed;degraded;configRefused
type NotificationEvent string

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

// Strategy holds the canary or the blueGreen strategy, as Argo's.
// +kubebuilder:validation:XValidation:rule="has(self.canary) != has(self.blueGreen)",message="give canary or blueGreen"
type Strategy struct {
	// +optional
	Canary *CanaryStrategy `json:"canary,omitempty"`
	// +optional
	BlueGreen *BlueGreenStrategy `json:"blueGreen,omitempty"`
}

// CanaryStrategy is Argo Rollouts' canary: steps and background analysis.
// No steps promotes at once, as in Argo.
type CanaryStrategy struct {
	// +optional
	Steps []Step `json:"steps,omitempty"`
	// +optional
	Analysis *BackgroundAnalysis `json:"analysis,omitempty"`
}

// BlueGreenStrategy is Argo Rollouts' blueGreen between the stable
// (active) and canary (preview) sides: the pre-promotion analysis, a pause
// unless promotion is automatic, the whole weight switched at once, the
// post-promotion analysis, whose failure switches back.
type BlueGreenStrategy struct {
	// +optional
	AutoPromotionEnabled *bool `json:"autoPromotionEnabled,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	AutoPromotionSeconds *int32 `json:"autoPromotionSeconds,omitempty"`
	// +optional
	PrePromotionAnalysis *StepAnalysis `json:"prePromotionAnalysis,omitempty"`
	// +optional
	PostPromotionAnalysis *StepAnalysis `json:"postPromotionAnalysis,omitempty"`
	// ScaleDownDelaySeconds is how long the stable side must stay ready to
	// take the traffic back after the switch (30 by default, as Argo's).
	// +optional
	// +kubebuilder:validation:Minimum=0
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// PreviewHeader sends matching requests to the canary side before the
	// switch, through a header route named preview.
	// +optional
	PreviewHeader *HeaderRoutingMatch `json:"previewHeader,omitempty"`
}

// Step does one thing.
// +kubebuilder:validation:MaxProperties=1
// +kubebuilder:validation:MinProperties=1
type Step struct {
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	SetWeight *int32 `json:"setWeight,omitempty"`
	// +optional
	Pause *Pause `json:"pause,omitempty"`
	// +optional
	SetHeaderRoute *SetHeaderRoute `json:"setHeaderRoute,omitempty"`
	// +optional
	SetMirrorRoute *SetMirrorRoute `json:"setMirrorRoute,omitempty"`
	// +optional
	Analysis *StepAnalysis `json:"analysis,omitempty"`
}

// Pause waits Duration, or until promoted without one: seconds as an
// integer or a duration string ("30s", "5m", "1h"), as Argo takes it.
type Pause struct {
	// +optional
	// +kubebuilder:validation:XIntOrString
	// Checked by the controller, which reports a bad one at its field path.
	Duration *intstr.IntOrString `json:"duration,omitempty"`
}

// SetHeaderRoute sends matching requests to the canary; no match removes it.
type SetHeaderRoute struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	Match []HeaderRoutingMatch `json:"match,omitempty"`
}

// HeaderRoutingMatch matches a header, or a query parameter.
type HeaderRoutingMatch struct {
	// +optional
	HeaderName string `json:"headerName,omitempty"`
	// +optional
	HeaderValue *StringMatch `json:"headerValue,omitempty"`
	// +optional
	QueryParamName string `json:"queryParamName,omitempty"`
	// +optional
	QueryParamValue *StringMatch `json:"queryParamValue,omitempty"`
}

// StringMatch matches in exactly one way.
// +kubebuilder:validation:MaxProperties=1
type StringMatch struct {
	// +optional
	Exact *string `json:"exact,omitempty"`
	// +optional
	Prefix *string `json:"prefix,omitempty"`
	// +optional
	Regex *string `json:"regex,omitempty"`
}

// SetMirrorRoute mirrors a percentage of matching requests to the canary.
type SetMirrorRoute struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Percentage *int32 `json:"percentage,omitempty"`
	// +optional
	Match []MirrorMatch `json:"match,omitempty"`
}

// MirrorMatch is Argo's RouteMatch.
type MirrorMatch struct {
	// +optional
	Method *StringMatch `json:"method,omitempty"`
	// +optional
	Path *StringMatch `json:"path,omitempty"`
	// +optional
	Headers map[string]StringMatch `json:"headers,omitempty"`
}

// StepAnalysis runs the named templates.
type StepAnalysis struct {
	// +kubebuilder:validation:MinItems=1
	Templates []TemplateRef `json:"templates"`
	// +optional
	Args []AnalysisArg `json:"args,omitempty"`
}

// BackgroundAnalysis runs alongside the steps from StartingStep.
type BackgroundAnalysis struct {
	StepAnalysis `json:",inline"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	StartingStep int32 `json:"startingStep,omitempty"`
}

// TemplateRef names an analysis template: one of spec.analysisTemplates,
// else an Argo Rollouts AnalysisTemplate in the Cutover's namespace, or
// with ClusterScope a ClusterAnalysisTemplate.
type TemplateRef struct {
	TemplateName string `json:"templateName"`
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
}

// AnalysisArg fills a template's argument.
type AnalysisArg struct {
	Name string `json:"name"`
	// +optional
	Value string `json:"value,omitempty"`
	// ValueFrom reads the value from a Secret in the Cutover's namespace or
	// from a field of the Cutover, as Argo's args[].valueFrom does.
	// +optional
	ValueFrom *ArgValueFrom `json:"valueFrom,omitempty"`
}

// ArgValueFrom is where an argument's value is read.
// +kubebuilder:validation:XValidation:rule="has(self.secretKeyRef) != has(self.fieldRef)",message="set exactly one of secretKeyRef and fieldRef"
type ArgValueFrom struct {
	// +optional
	SecretKeyRef *SecretKeyRef `json:"secretKeyRef,omitempty"`
	// FieldRef is a field of the Cutover: metadata.name, metadata.namespace,
	// metadata.uid, metadata.labels['KEY'] or metadata.annotations['KEY'].
	// +optional
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// SecretKeyRef is a key of a Secret in the Cutover's namespace.
type SecretKeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// FieldRef names a field of the Cutover.
type FieldRef struct {
	FieldPath string `json:"fieldPath"`
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
