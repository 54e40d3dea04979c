package spec

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// KindRollout is the kind of a plan document; KindAnalysisTemplate of a
// reusable set of analysis metrics. Both follow Argo Rollouts' shapes.
const (
	KindRollout          = "Rollout"
	KindAnalysisTemplate = "AnalysisTemplate"
)

// Rollout is a `kind: Rollout` document: a plan that moves one route from
// its stable backend to its canary backend step by step.
type Rollout struct {
	APIVersion string      `yaml:"apiVersion"`
	Kind       string      `yaml:"kind"`
	Metadata   Metadata    `yaml:"metadata"`
	Spec       RolloutSpec `yaml:"spec"`
}

// RolloutSpec names the route the plan drives. Strategy is Argo Rollouts'
// strategy block: a canary strategy written for Argo is taken as it is,
// without its trafficRouting block.
type RolloutSpec struct {
	Route    string   `yaml:"route"`
	Strategy Strategy `yaml:"strategy"`
	// RemoteGateways are other `cutover serve` replicas, behind the same
	// layer-4 load balancer, that the plan moves in step with this one.
	RemoteGateways []RemoteGateway `yaml:"remoteGateways"`
	// Notifications are the webhooks told about the plan's changes.
	Notifications []Notification `yaml:"notifications"`
}

// RemoteGateway is another gateway's admin API and the file holding its token.
type RemoteGateway struct {
	Admin     string `yaml:"admin"`
	TokenFile string `yaml:"tokenFile"`
}

// Strategy holds the canary or the blueGreen strategy, as in Argo
// Rollouts. A blueGreen strategy is carried out as the canary steps it
// amounts to (BlueGreenStrategy.CanarySteps); after loading, Canary holds
// them.
//
// The plan types from here down are also the Cutover resource's
// (api/v1alpha1): the json names are the yaml names, and the markers
// are its schema's.
//
// +kubebuilder:object:generate=true
// +kubebuilder:validation:XValidation:rule="has(self.canary) != has(self.blueGreen)",message="give canary or blueGreen"
type Strategy struct {
	Canary    *CanaryStrategy    `yaml:"canary" json:"canary,omitempty"`
	BlueGreen *BlueGreenStrategy `yaml:"blueGreen" json:"blueGreen,omitempty"`
}

// BlueGreenStrategy is Argo's blueGreen strategy. ActiveService and
// PreviewService name backends of the gateway: the one serving the route
// now and the new version, reachable before the switch through a route of
// its own. Argo switches a Service's selector; the gateway moves the
// route's whole weight in one step.
//
// +kubebuilder:object:generate=true
type BlueGreenStrategy struct {
	// The Cutover resource names the sides in its spec.stable and
	// spec.canary, so they are not in its JSON.
	ActiveService  string `yaml:"activeService" json:"-"`
	PreviewService string `yaml:"previewService" json:"-"`
	// AutoPromotionEnabled false pauses before the switch until promoted;
	// true (the default) switches after AutoPromotionSeconds, or at once.
	AutoPromotionEnabled *bool `yaml:"autoPromotionEnabled" json:"autoPromotionEnabled,omitempty"`
	// +kubebuilder:validation:Minimum=0
	AutoPromotionSeconds *int `yaml:"autoPromotionSeconds" json:"autoPromotionSeconds,omitempty"`
	// PrePromotionAnalysis must pass before the switch; a failed
	// PostPromotionAnalysis switches the route back to ActiveService.
	PrePromotionAnalysis  *StepAnalysis `yaml:"prePromotionAnalysis" json:"prePromotionAnalysis,omitempty"`
	PostPromotionAnalysis *StepAnalysis `yaml:"postPromotionAnalysis" json:"postPromotionAnalysis,omitempty"`
	// ScaleDownDelaySeconds is how long after the switch the active side
	// must stay up, health-checked and ready to take the traffic back;
	// the plan's status then says it can be decommissioned (30 by
	// default, as Argo's).
	// +kubebuilder:validation:Minimum=0
	ScaleDownDelaySeconds *int `yaml:"scaleDownDelaySeconds" json:"scaleDownDelaySeconds,omitempty"`
	// PreviewHeader, cutover's own, reaches the preview before the switch:
	// requests that match go to it through a header route named
	// "preview", removed when the plan ends.
	PreviewHeader *HeaderRoutingMatch `yaml:"previewHeader" json:"previewHeader,omitempty"`
}

// DefaultScaleDownDelay is Argo's scaleDownDelaySeconds default.
const DefaultScaleDownDelay = 30 * time.Second

// ScaleDownDelay is how long the active side stays ready after the switch.
func (b *BlueGreenStrategy) ScaleDownDelay() time.Duration {
	if b.ScaleDownDelaySeconds == nil {
		return DefaultScaleDownDelay
	}
	return time.Duration(*b.ScaleDownDelaySeconds) * time.Second
}

// CanarySteps is the plan a blueGreen strategy amounts to, in Argo's order
// of events: the pre-promotion analysis, the pause before promotion, the
// switch, the post-promotion analysis. Completing leaves the route on the
// preview backend; an abort at any point, the post-promotion analysis
// failing among them, puts it back on the active one.
func (b *BlueGreenStrategy) CanarySteps() []Step {
	var steps []Step
	if b.PreviewHeader != nil {
		steps = append(steps, Step{SetHeaderRoute: &SetHeaderRoute{Name: "preview", Match: []HeaderRoutingMatch{*b.PreviewHeader}}})
	}
	if b.PrePromotionAnalysis != nil {
		steps = append(steps, Step{Analysis: b.PrePromotionAnalysis})
	}
	switch {
	case b.AutoPromotionEnabled != nil && !*b.AutoPromotionEnabled:
		steps = append(steps, Step{Pause: &Pause{}})
	case b.AutoPromotionSeconds != nil && *b.AutoPromotionSeconds > 0:
		d := PauseDuration(time.Duration(*b.AutoPromotionSeconds) * time.Second)
		steps = append(steps, Step{Pause: &Pause{Duration: &d}})
	}
	all := 100
	steps = append(steps, Step{SetWeight: &all})
	if b.PostPromotionAnalysis != nil {
		steps = append(steps, Step{Analysis: b.PostPromotionAnalysis})
	}
	return steps
}

// CanaryStrategy is Argo's canary strategy. StableService and CanaryService
// name backends of the gateway (in Argo they name Kubernetes Services).
//
// +kubebuilder:object:generate=true
type CanaryStrategy struct {
	StableService string `yaml:"stableService" json:"-"`
	CanaryService string `yaml:"canaryService" json:"-"`
	Steps         []Step `yaml:"steps" json:"steps,omitempty"`
	// Analysis runs in the background from StartingStep to the end.
	Analysis *BackgroundAnalysis `yaml:"analysis" json:"analysis,omitempty"`
	// TrafficRouting is refused by the gateway, which routes traffic itself;
	// it is parsed so that the error can say so.
	TrafficRouting Written `yaml:"trafficRouting" json:"-"`
}

// Written records that a field was there, whatever its value.
type Written bool

// UnmarshalYAML notes the field.
func (w *Written) UnmarshalYAML(*yaml.Node) error {
	*w = true
	return nil
}

// Step is one step of a plan; exactly one field is set.
//
// +kubebuilder:object:generate=true
// +kubebuilder:validation:MaxProperties=1
// +kubebuilder:validation:MinProperties=1
type Step struct {
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	SetWeight      *int            `yaml:"setWeight" json:"setWeight,omitempty"`
	Pause          *Pause          `yaml:"pause" json:"pause,omitempty"`
	SetHeaderRoute *SetHeaderRoute `yaml:"setHeaderRoute" json:"setHeaderRoute,omitempty"`
	SetMirrorRoute *SetMirrorRoute `yaml:"setMirrorRoute" json:"setMirrorRoute,omitempty"`
	Analysis       *StepAnalysis   `yaml:"analysis" json:"analysis,omitempty"`
	// PodsOnly: the step held only fields without effect here (Argo's
	// setCanaryScale, experiment), and is passed over.
	PodsOnly bool `yaml:"-" json:"-"`
}

func (s *Step) setAside() { s.PodsOnly = true }

// Pause waits for Duration, or until promoted when Duration is unset.
//
// +kubebuilder:object:generate=true
type Pause struct {
	// Seconds as an integer, or a duration string ("30s", "5m", "1h").
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:XIntOrString
	Duration *PauseDuration `yaml:"duration" json:"duration,omitempty"`
	// invalid is a duration in JSON that is neither, kept for the check
	// to report at its field path: refusing it while decoding would hide
	// the whole Cutover from the controller.
	invalid string `json:"-" yaml:"-"`
}

// UnmarshalJSON reads Argo's int-or-string duration.
func (p *Pause) UnmarshalJSON(data []byte) error {
	var raw struct {
		Duration json.RawMessage `json:"duration"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*p = Pause{}
	if len(raw.Duration) == 0 || string(raw.Duration) == "null" {
		return nil
	}
	var d PauseDuration
	if err := d.parse(strings.Trim(string(raw.Duration), `"`)); err != nil {
		p.invalid = string(raw.Duration)
		return nil
	}
	p.Duration = &d
	return nil
}

// PauseDuration is written as Argo accepts it: seconds as an integer, or a
// duration string such as "90s" or "1h".
type PauseDuration time.Duration

// UnmarshalYAML reads an integer number of seconds or a duration string.
func (d *PauseDuration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be seconds or a duration such as 60s")
	}
	return d.parse(n.Value)
}

func (d *PauseDuration) parse(s string) error {
	if secs, err := strconv.Atoi(s); err == nil {
		*d = PauseDuration(time.Duration(secs) * time.Second)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (want seconds or e.g. 60s, 1h)", s)
	}
	*d = PauseDuration(v)
	return nil
}

// String is Argo's form: whole hours, minutes or seconds ("5m"), else Go's.
func (d PauseDuration) String() string {
	switch t := time.Duration(d); {
	case t != 0 && t%time.Hour == 0:
		return strconv.FormatInt(int64(t/time.Hour), 10) + "h"
	case t != 0 && t%time.Minute == 0:
		return strconv.FormatInt(int64(t/time.Minute), 10) + "m"
	case t%time.Second == 0:
		return strconv.FormatInt(int64(t/time.Second), 10) + "s"
	default:
		return t.String()
	}
}

// MarshalJSON writes the string form, which the Cutover CRD and Argo take.
func (d PauseDuration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// D returns the time.Duration.
func (d PauseDuration) D() time.Duration { return time.Duration(d) }

// SetHeaderRoute sends requests that match to the canary whatever the
// weights. With no match, it removes the named route.
//
// +kubebuilder:object:generate=true
type SetHeaderRoute struct {
	// +kubebuilder:validation:MinLength=1
	Name  string               `yaml:"name" json:"name"`
	Match []HeaderRoutingMatch `yaml:"match" json:"match,omitempty"`
}

// HeaderRoutingMatch is Argo's header match, plus a query-parameter form:
// set HeaderName or QueryParamName.
//
// +kubebuilder:object:generate=true
type HeaderRoutingMatch struct {
	HeaderName      string       `yaml:"headerName" json:"headerName,omitempty"`
	HeaderValue     *StringMatch `yaml:"headerValue" json:"headerValue,omitempty"`
	QueryParamName  string       `yaml:"queryParamName" json:"queryParamName,omitempty"`
	QueryParamValue *StringMatch `yaml:"queryParamValue" json:"queryParamValue,omitempty"`
}

// SetMirrorRoute mirrors a percentage of matching requests to the canary.
//
// +kubebuilder:object:generate=true
type SetMirrorRoute struct {
	// +kubebuilder:validation:MinLength=1
	Name string `yaml:"name" json:"name"`
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Percentage *int          `yaml:"percentage" json:"percentage,omitempty"`
	Match      []MirrorMatch `yaml:"match" json:"match,omitempty"`
}

// MirrorMatch is Argo's RouteMatch.
//
// +kubebuilder:object:generate=true
type MirrorMatch struct {
	Method  *StringMatch           `yaml:"method" json:"method,omitempty"`
	Path    *StringMatch           `yaml:"path" json:"path,omitempty"`
	Headers map[string]StringMatch `yaml:"headers" json:"headers,omitempty"`
}

// StepAnalysis runs analysis as a step: templates by name, or metrics
// written inline.
//
// +kubebuilder:object:generate=true
type StepAnalysis struct {
	// +kubebuilder:validation:MinItems=1
	Templates []TemplateRef `yaml:"templates" json:"templates,omitempty"`
	Args      []AnalysisArg `yaml:"args" json:"args,omitempty"`
	// Metrics written inline are cutover.yaml's; a Cutover resource
	// holds its metrics in spec.analysisTemplates.
	Metrics    []Metric `yaml:"metrics" json:"-"`
	RunOptions `yaml:",inline" json:",inline"`
}

// RunOptions are Argo's per-metric options of an analysis, each naming
// metrics by a regular expression (unanchored, as Argo matches it).
//
// +kubebuilder:object:generate=true
type RunOptions struct {
	// DryRun metrics are measured and reported, but their verdicts do not
	// decide the analysis.
	DryRun []MetricSelector `yaml:"dryRun" json:"dryRun,omitempty"`
	// MeasurementRetention keeps Limit measurements of the metrics it
	// names, instead of the last 10.
	MeasurementRetention []Retention `yaml:"measurementRetention" json:"measurementRetention,omitempty"`
}

// MetricSelector names metrics by a regular expression.
//
// +kubebuilder:object:generate=true
type MetricSelector struct {
	MetricName string `yaml:"metricName" json:"metricName"`
}

// Retention is how many measurements to keep of the named metrics.
//
// +kubebuilder:object:generate=true
type Retention struct {
	MetricName string `yaml:"metricName" json:"metricName"`
	Limit      int    `yaml:"limit" json:"limit,omitempty"`
}

// Apply marks the metrics that o names.
func (o RunOptions) Apply(metrics []Metric) {
	for i := range metrics {
		m := &metrics[i]
		for _, d := range o.DryRun {
			if ok, _ := regexp.MatchString(d.MetricName, m.Name); ok {
				m.DryRun = true
			}
		}
		for _, r := range o.MeasurementRetention {
			if ok, _ := regexp.MatchString(r.MetricName, m.Name); ok {
				m.Retain = r.Limit
			}
		}
	}
}

// BackgroundAnalysis is Argo's strategy.canary.analysis.
//
// +kubebuilder:object:generate=true
type BackgroundAnalysis struct {
	StepAnalysis `yaml:",inline" json:",inline"`
	// StartingStep is the index of the step it starts at; 0 by default.
	// +kubebuilder:validation:Minimum=0
	StartingStep int `yaml:"startingStep" json:"startingStep,omitempty"`
}

// TemplateRef names an AnalysisTemplate. ClusterScope is Argo's pick of a
// ClusterAnalysisTemplate; the gateway's templates have one scope, so
// both name the same set.
//
// +kubebuilder:object:generate=true
type TemplateRef struct {
	TemplateName string `yaml:"templateName" json:"templateName"`
	ClusterScope bool   `yaml:"clusterScope" json:"clusterScope,omitempty"`
}

// AnalysisArg fills a template's {{args.NAME}}.
//
// +kubebuilder:object:generate=true
type AnalysisArg struct {
	Name  string  `yaml:"name" json:"name"`
	Value *string `yaml:"value" json:"value,omitempty"`
	// ValueFrom reads the value from a Secret or a field of the Cutover,
	// as Argo's args[].valueFrom does: on Kubernetes only, where
	// cutover-kube fills Value in from it before the plan is checked.
	ValueFrom *ArgValueFrom `yaml:"valueFrom" json:"valueFrom,omitempty"`
	// refused: its value was to come from Kubernetes (valueFrom), which is
	// refused already.
	refused bool `json:"-" yaml:"-"`
}

// ArgValueFrom is where an argument's value is read.
//
// +kubebuilder:object:generate=true
// +kubebuilder:validation:XValidation:rule="has(self.secretKeyRef) != has(self.fieldRef)",message="set exactly one of secretKeyRef and fieldRef"
type ArgValueFrom struct {
	SecretKeyRef *SecretKeyRef `yaml:"secretKeyRef" json:"secretKeyRef,omitempty"`
	// FieldRef is a field of the Cutover: metadata.name, metadata.namespace,
	// metadata.uid, metadata.labels['KEY'] or metadata.annotations['KEY'].
	FieldRef *FieldRef `yaml:"fieldRef" json:"fieldRef,omitempty"`
}

// SecretKeyRef is a key of a Secret in the Cutover's namespace.
type SecretKeyRef struct {
	Name string `yaml:"name" json:"name"`
	Key  string `yaml:"key" json:"key"`
}

// FieldRef names a field of the Cutover.
type FieldRef struct {
	FieldPath string `yaml:"fieldPath" json:"fieldPath"`
}

func (a *AnalysisArg) setAside() { a.refused = true }

// AnalysisTemplate is a `kind: AnalysisTemplate` document.
type AnalysisTemplate struct {
	APIVersion string               `yaml:"apiVersion"`
	Kind       string               `yaml:"kind"`
	Metadata   Metadata             `yaml:"metadata"`
	Spec       AnalysisTemplateSpec `yaml:"spec"`
}

// AnalysisTemplateSpec is Argo's: arguments and metrics.
type AnalysisTemplateSpec struct {
	Args       []AnalysisArg `yaml:"args"`
	Metrics    []Metric      `yaml:"metrics"`
	RunOptions `yaml:",inline"`
	// Templates are other templates whose metrics, arguments and options
	// this one takes too (Argo's template composition).
	Templates []TemplateRef `yaml:"templates"`
}

// Resolved is a template with the templates it is composed of: their
// metrics, arguments and options, the composed ones first.
type Resolved struct {
	Metrics []Metric
	Args    []AnalysisArg
	Options []RunOptions
}

// Resolve gathers template name and those it is composed of, from
// templates; a name that is not there or a cycle is an error.
func Resolve(name string, templates map[string]*AnalysisTemplate) (Resolved, error) {
	var out Resolved
	var walk func(name string, path []string) error
	walk = func(name string, path []string) error {
		if slices.Contains(path, name) {
			return fmt.Errorf("templates compose a cycle: %s", strings.Join(append(path, name), " -> "))
		}
		at := templates[name]
		if at == nil {
			return fmt.Errorf("unknown AnalysisTemplate %q", name)
		}
		for _, ref := range at.Spec.Templates {
			if err := walk(ref.TemplateName, append(path, name)); err != nil {
				return err
			}
		}
		out.Metrics = append(out.Metrics, at.Spec.Metrics...)
		out.Args = append(out.Args, at.Spec.Args...)
		out.Options = append(out.Options, at.Spec.RunOptions)
		return nil
	}
	return out, walk(name, nil)
}

// Metric is one measurement repeated over time, with Argo's fields and
// meaning. Count 0 with an Interval in a step analysis means 1; in a
// background analysis, until the plan ends.
//
// +kubebuilder:object:generate=true
type Metric struct {
	Name                    string   `yaml:"name"`
	Interval                Duration `yaml:"interval"`
	InitialDelay            Duration `yaml:"initialDelay"`
	Count                   int      `yaml:"count"`
	SuccessCondition        string   `yaml:"successCondition"`
	FailureCondition        string   `yaml:"failureCondition"`
	FailureLimit            int      `yaml:"failureLimit"`
	InconclusiveLimit       int      `yaml:"inconclusiveLimit"`
	ConsecutiveErrorLimit   *int     `yaml:"consecutiveErrorLimit"`
	ConsecutiveSuccessLimit int      `yaml:"consecutiveSuccessLimit"`
	Provider                Provider `yaml:"provider"`
	// DryRun and Retain come from the analysis's RunOptions.
	DryRun bool `yaml:"-"`
	Retain int  `yaml:"-"`
	// Deferred are fields written as Argo's {{args.NAME}}, by YAML name,
	// as written: they take their values when the plan fills the
	// arguments in (ApplyArgs).
	Deferred map[string]string `yaml:"-"`
}

// deferrable are the fields of a Metric that are not strings but that
// Argo lets an argument fill in.
var deferrable = map[string]bool{
	"interval": true, "initialDelay": true, "count": true, "failureLimit": true,
	"inconclusiveLimit": true, "consecutiveErrorLimit": true, "consecutiveSuccessLimit": true,
}

func (m *Metric) deferArg(key, raw string) bool {
	if !deferrable[key] {
		return false
	}
	if m.Deferred == nil {
		m.Deferred = map[string]string{}
	}
	m.Deferred[key] = raw
	return true
}

// ExpandArgs replaces each {{args.NAME}} in s (spaces inside the braces
// allowed) with its value in args; one not in args stays as written.
func ExpandArgs(s string, args map[string]string) string {
	return argRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.Trim(ref, "{}")), "args."))
		if val, ok := args[name]; ok {
			return val
		}
		return ref
	})
}

// ApplyArgs fills in m's {{args.NAME}} fields from args and parses them
// as their types. The caller substitutes the string fields.
func (m *Metric) ApplyArgs(args map[string]string) error {
	for key, raw := range m.Deferred {
		v := ExpandArgs(raw, args)
		if ref := argRef.FindString(v); ref != "" {
			return fmt.Errorf("%s: %s is not given", key, ref)
		}
		if err := yaml.Unmarshal([]byte(key+": "+v), m); err != nil {
			return fmt.Errorf("%s: %q: %s", key, v, cleanYAMLError(err))
		}
	}
	m.Deferred = nil
	return nil
}

// Provider says where a metric's value comes from; exactly one is set.
//
// +kubebuilder:object:generate=true
type Provider struct {
	Prometheus *PrometheusProvider `yaml:"prometheus"`
	Gateway    *GatewayProvider    `yaml:"gateway"`
	Load       *LoadProvider       `yaml:"load"`
	Web        *WebProvider        `yaml:"web"`
	Datadog    *DatadogProvider    `yaml:"datadog"`
	// Job is Argo's job metric, on Kubernetes only (ParseOptions).
	Job *JobProvider `yaml:"job"`
	// refused: it named a provider of Argo's that is refused already.
	refused bool `json:"-" yaml:"-"`
}

func (p *Provider) setAside() { p.refused = true }

// WebProvider is Argo's web metric: an HTTP request whose JSON answer, at
// JSONPath (Kubernetes JSONPath, "{$}" by default), is the result. An
// answer that is not JSON is a success with the body as the value, as in
// Argo; one that is not 2xx is an error.
type WebProvider struct {
	URL     string      `yaml:"url"`
	Method  string      `yaml:"method"` // GET (default), POST or PUT
	Headers []WebHeader `yaml:"headers"`
	Body    string      `yaml:"body"`
	// JSONBody is sent as JSON, with Content-Type application/json.
	JSONBody       *yaml.Node `yaml:"jsonBody"`
	TimeoutSeconds int        `yaml:"timeoutSeconds"` // 10 by default
	JSONPath       string     `yaml:"jsonPath"`
	Insecure       bool       `yaml:"insecure"`
}

// JobProvider is Argo's job metric: a batch/v1 Job made from Spec (and
// Metadata's labels and annotations) per measurement; the measurement
// succeeds when the Job completes and fails when it fails.
type JobProvider struct {
	Metadata yaml.Node `yaml:"metadata"`
	Spec     yaml.Node `yaml:"spec"`
}

// DatadogProvider is Argo's datadog metric: v1's timeseries query (the
// last point of the first series is result) or v2's scalar query (the
// first value of the first column, with queries and a formula). Keys come
// from DD_API_KEY and DD_APP_KEY, and the site from DD_ADDRESS (default
// https://api.datadoghq.com).
//
// +kubebuilder:object:generate=true
type DatadogProvider struct {
	// Interval is the window queried, up to now (5m by default).
	Interval   Duration          `yaml:"interval"`
	Query      string            `yaml:"query"`
	Queries    map[string]string `yaml:"queries"`
	Formula    string            `yaml:"formula"`
	APIVersion string            `yaml:"apiVersion"` // v1 (default) or v2
	Aggregator string            `yaml:"aggregator"` // v2: last by default
	// SecretRef, on Kubernetes, names the Secret with the keys (api-key,
	// app-key, address): in cutover-kube's namespace, or the Cutover's
	// when Namespaced, as Argo's.
	SecretRef *DatadogSecretRef `yaml:"secretRef"`
}

// DatadogSecretRef names the Secret a datadog metric's keys are in.
//
// +kubebuilder:object:generate=true
type DatadogSecretRef struct {
	Name       string `yaml:"name"`
	Namespaced bool   `yaml:"namespaced"`
}

// WebHeader is one request header of a web metric.
//
// +kubebuilder:object:generate=true
type WebHeader struct {
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
}

// LoadProvider drives load at a target during the measurement (a load
// test as a step of the plan, as Flagger's load-test webhook): Rate for
// Duration, and result has rps (achieved), p50 and p99 (seconds),
// errorRate and requests for the conditions.
//
// +kubebuilder:object:generate=true
type LoadProvider struct {
	// URL is the canary side: directly, or through the gateway with the
	// header route's header in Headers.
	URL      string            `yaml:"url"`
	Method   string            `yaml:"method"`
	Headers  map[string]string `yaml:"headers"`
	Rate     string            `yaml:"rate"`
	Duration Duration          `yaml:"duration"`
	Timeout  Duration          `yaml:"timeout"`
}

// PrometheusProvider runs an instant PromQL query. With Judge set, the
// query must return one series per side, told apart by the label SideLabel
// with the stable and canary backends' names (or versions) as values.
//
// +kubebuilder:object:generate=true
type PrometheusProvider struct {
	Address string `yaml:"address"`
	Query   string `yaml:"query"`
	// Timeout is whole seconds, as Argo writes it, or a duration.
	Timeout Seconds `yaml:"timeout"`
	// Headers go with every query (Argo's key/value list).
	Headers []Header `yaml:"headers"`
	// Insecure skips verifying Prometheus's certificate.
	Insecure bool `yaml:"insecure"`
	// RangeQuery runs the query over a range; result is every sample of
	// every series, as Argo gives it.
	RangeQuery *RangeQuery `yaml:"rangeQuery"`
	Judge      *Judge      `yaml:"judge"`
	SideLabel  string      `yaml:"sideLabel"`
	// RequestsQuery counts each side's requests when Judge is set; Query
	// then counts each side's errors.
	RequestsQuery string `yaml:"requestsQuery"`
}

// Header is one HTTP header, as Argo Rollouts lists them.
//
// +kubebuilder:object:generate=true
type Header struct {
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
}

// RangeQuery is Argo's: Start and End are expressions of time
// ("now() - duration('5m')", "now()"), Step a duration.
//
// +kubebuilder:object:generate=true
type RangeQuery struct {
	Start string `yaml:"start"`
	End   string `yaml:"end"`
	Step  string `yaml:"step"`
}

// GatewayProvider reads the embedded gateway's own counters and latency
// samples for the plan's route over Window. Without a judge, result is the
// canary's Value (errorRate, requests, p50, p99, in seconds) over the window.
//
// +kubebuilder:object:generate=true
type GatewayProvider struct {
	Window Duration `yaml:"window"`
	Value  string   `yaml:"value"`
	Judge  *Judge   `yaml:"judge"`
}

// Judge compares the canary with the stable side statistically and decides
// as soon as the evidence suffices.
//
// +kubebuilder:object:generate=true
type Judge struct {
	// MinSamples is the least number of requests per side before any
	// verdict; below it the verdict is Inconclusive.
	MinSamples int             `yaml:"minSamples"`
	ErrorRate  *ErrorRateJudge `yaml:"errorRate"`
	Latency    *LatencyJudge   `yaml:"latency"`
}

// ErrorRateJudge is a sequential test of canary error rate minus stable
// error rate: H0 no increase, H1 an increase of MaxIncrease.
//
// +kubebuilder:object:generate=true
type ErrorRateJudge struct {
	MaxIncrease float64 `yaml:"maxIncrease"`
	Alpha       float64 `yaml:"alpha"`
	Beta        float64 `yaml:"beta"`
}

// LatencyJudge fails when the canary's latencies are significantly above
// MaxRatio times the stable side's (one-sided Mann-Whitney U).
//
// +kubebuilder:object:generate=true
type LatencyJudge struct {
	MaxRatio float64 `yaml:"maxRatio"`
	Alpha    float64 `yaml:"alpha"`
}
