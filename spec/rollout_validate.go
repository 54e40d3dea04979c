package spec

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/expr-lang/expr"
	"go.yaml.in/yaml/v3"
	"k8s.io/client-go/util/jsonpath"
)

// Analysis defaults, after Argo Rollouts where it has one.
const (
	DefaultConsecutiveErrorLimit = 4
	DefaultAlpha                 = 0.05
	DefaultBeta                  = 0.2
	DefaultMinSamples            = 100
	DefaultGatewayWindow         = 30 * time.Second
	DefaultPrometheusTimeout     = 10 * time.Second
)

func setTemplateDefaults(at *AnalysisTemplate) {
	for i := range at.Spec.Metrics {
		setMetricDefaults(&at.Spec.Metrics[i])
	}
}

func setRolloutDefaults(r *Rollout) {
	var analyses []*StepAnalysis
	if c := r.Spec.Strategy.Canary; c != nil {
		for i := range c.Steps {
			analyses = append(analyses, c.Steps[i].Analysis)
		}
		if c.Analysis != nil {
			analyses = append(analyses, &c.Analysis.StepAnalysis)
		}
	}
	if b := r.Spec.Strategy.BlueGreen; b != nil {
		analyses = append(analyses, b.PrePromotionAnalysis, b.PostPromotionAnalysis)
	}
	for _, a := range analyses {
		if a == nil {
			continue
		}
		for j := range a.Metrics {
			setMetricDefaults(&a.Metrics[j])
		}
	}
}

func setMetricDefaults(m *Metric) {
	if m.ConsecutiveErrorLimit == nil {
		n := DefaultConsecutiveErrorLimit
		m.ConsecutiveErrorLimit = &n
	}
	setJudgeDefaults := func(j *Judge) {
		if j == nil {
			return
		}
		setInt(&j.MinSamples, DefaultMinSamples)
		if e := j.ErrorRate; e != nil {
			if e.Alpha == 0 {
				e.Alpha = DefaultAlpha
			}
			if e.Beta == 0 {
				e.Beta = DefaultBeta
			}
		}
		if l := j.Latency; l != nil && l.Alpha == 0 {
			l.Alpha = DefaultAlpha
		}
	}
	if g := m.Provider.Gateway; g != nil {
		if g.Window == 0 {
			g.Window = Duration(DefaultGatewayWindow)
			if m.Interval > 0 {
				g.Window = m.Interval
			}
		}
		setJudgeDefaults(g.Judge)
	}
	if dd := m.Provider.Datadog; dd != nil && dd.Interval == 0 {
		dd.Interval = Duration(5 * time.Minute)
	}
	if pr := m.Provider.Prometheus; pr != nil {
		if pr.Timeout == 0 {
			pr.Timeout = Seconds(DefaultPrometheusTimeout)
		}
		if pr.SideLabel == "" {
			pr.SideLabel = "backend"
		}
		setJudgeDefaults(pr.Judge)
	}
}

func validateWeb(p *problems, mp string, m *Metric, w *WebProvider) {
	wp := mp + ".provider.web"
	// A URL written wholly or partly by arguments is checked when measured.
	if u, err := url.Parse(w.URL); !argRef.MatchString(w.URL) && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		p.add(wp+".url", "%q is not an http(s) URL", w.URL)
	}
	switch w.Method {
	case "", "GET":
		if w.Body != "" || w.JSONBody != nil {
			p.add(wp+".method", "body and jsonBody need POST or PUT")
		}
	case "POST", "PUT":
	default:
		p.add(wp+".method", "%q is not GET, POST or PUT", w.Method)
	}
	if w.Body != "" && w.JSONBody != nil {
		p.add(wp+".jsonBody", "give body or jsonBody, not both")
	}
	for i, h := range w.Headers {
		if !isToken(h.Key) {
			p.add(fmt.Sprintf("%s.headers[%d].key", wp, i), "%q is not a valid header name", h.Key)
		}
	}
	if w.TimeoutSeconds < 0 {
		p.add(wp+".timeoutSeconds", "must not be negative")
	}
	if w.JSONPath != "" && !argRef.MatchString(w.JSONPath) {
		if err := jsonpath.New("web").Parse(w.JSONPath); err != nil {
			p.add(wp+".jsonPath", "%v", err)
		}
	}
	// Without conditions a 2xx answer passes, as in Argo: a health check.
}

// validateDatadog has Argo's rules (its validateIncomingProps).
func validateDatadog(p *problems, dp string, dd *DatadogProvider) {
	switch {
	case dd.Query == "" && len(dd.Queries) == 0:
		p.add(dp, "set query or queries")
	case dd.Query != "" && len(dd.Queries) > 0:
		p.add(dp+".queries", "give query or queries, not both")
	}
	switch dd.APIVersion {
	case "", "v1":
		if dd.Query == "" && len(dd.Queries) > 0 {
			p.add(dp+".queries", "apiVersion v1 takes query only; queries need v2")
		}
		if dd.Aggregator != "" {
			p.add(dp+".aggregator", "apiVersion v1 has no aggregator; it needs v2")
		}
	case "v2":
	default:
		p.add(dp+".apiVersion", "%q is not v1 or v2", dd.APIVersion)
	}
	if dd.Formula != "" && len(dd.Queries) == 0 {
		p.add(dp+".formula", "a formula needs queries")
	}
	if dd.Formula == "" && len(dd.Queries) > 1 {
		p.add(dp+".formula", "required with more than one query")
	}
	switch dd.Aggregator {
	case "", "avg", "min", "max", "sum", "last", "percentile", "mean", "l2norm", "area":
	default:
		p.add(dp+".aggregator", "%q is not one of avg, min, max, sum, last, percentile, mean, l2norm, area", dd.Aggregator)
	}
	if dd.Interval < 0 {
		p.add(dp+".interval", "must not be negative")
	}
}

// validateArgs checks a list of arguments and returns the names given.
func validateArgs(p *problems, path string, args []AnalysisArg) map[string]bool {
	given := map[string]bool{}
	for i, arg := range args {
		ap := fmt.Sprintf("%s[%d]", path, i)
		if arg.Name == "" {
			p.add(ap+".name", "required")
		}
		given[arg.Name] = true
		switch from := arg.ValueFrom; {
		case from == nil:
		case (from.SecretKeyRef == nil) == (from.FieldRef == nil):
			p.add(ap+".valueFrom", "set exactly one of secretKeyRef and fieldRef")
		case from.SecretKeyRef != nil && (from.SecretKeyRef.Name == "" || from.SecretKeyRef.Key == ""):
			p.add(ap+".valueFrom.secretKeyRef", "name and key are required")
		case from.FieldRef != nil && from.FieldRef.FieldPath == "":
			p.add(ap+".valueFrom.fieldRef.fieldPath", "required")
		}
	}
	return given
}

// argRef is Argo's {{args.NAME}} in a field.
var argRef = regexp.MustCompile(`\{\{\s*args\.[^}]*\}\}`)

func validateTemplate(at *AnalysisTemplate, seen map[string]*AnalysisTemplate, p *problems) {
	if at.APIVersion != APIVersion {
		p.add("apiVersion", "%q is not supported (want %s)", at.APIVersion, APIVersion)
	}
	validateName(p, "metadata.name", at.Metadata.Name)
	if seen[at.Metadata.Name] != nil {
		p.add("metadata.name", "duplicate AnalysisTemplate %q", at.Metadata.Name)
	}
	validateArgs(p, "spec.args", at.Spec.Args)
	validateMetrics(p, "spec.metrics", at.Spec.Metrics, len(at.Spec.Templates) == 0)
}

// validateComposition checks a template's composed templates, once every
// template is known, and its options against all the metrics it gathers.
func validateComposition(at *AnalysisTemplate, templates map[string]*AnalysisTemplate, p *problems) {
	for i, ref := range at.Spec.Templates {
		if templates[ref.TemplateName] == nil {
			p.add(fmt.Sprintf("spec.templates[%d].templateName", i), "unknown AnalysisTemplate %q (the templates are %s)", ref.TemplateName, names(templates))
			return
		}
	}
	r, err := Resolve(at.Metadata.Name, templates)
	if err != nil {
		p.add("spec.templates", "%v", err)
		return
	}
	validateRunOptions(p, "spec", at.Spec.RunOptions, r.Metrics)
}

// validateRunOptions checks that each selector compiles and names a
// metric, as Argo does ("references metric ... but it does not exist").
func validateRunOptions(p *problems, path string, o RunOptions, metrics []Metric) {
	check := func(field string, i int, name string) {
		fp := fmt.Sprintf("%s.%s[%d].metricName", path, field, i)
		re, err := regexp.Compile(name)
		if err != nil {
			p.add(fp, "%q is not a regular expression: %v", name, err)
			return
		}
		if !slices.ContainsFunc(metrics, func(m Metric) bool { return re.MatchString(m.Name) }) {
			p.add(fp, "%q names no metric of the analysis", name)
		}
	}
	for i, d := range o.DryRun {
		check("dryRun", i, d.MetricName)
	}
	for i, r := range o.MeasurementRetention {
		check("measurementRetention", i, r.MetricName)
		if r.Limit <= 0 {
			p.add(fmt.Sprintf("%s.measurementRetention[%d].limit", path, i), "must be positive")
		}
	}
}

// gatewayValues are the values a gateway provider can report without a judge.
var gatewayValues = map[string]bool{"errorRate": true, "requests": true, "p50": true, "p99": true}

func validateMetrics(p *problems, path string, metrics []Metric, required bool) {
	if required && len(metrics) == 0 {
		p.add(path, "at least one metric is required")
	}
	names := map[string]bool{}
	for i := range metrics {
		m := &metrics[i]
		mp := fmt.Sprintf("%s[%d]", path, i)
		validateName(p, mp+".name", m.Name)
		if names[m.Name] {
			p.add(mp+".name", "duplicate metric name %q", m.Name)
		}
		names[m.Name] = true
		if m.Count < 0 {
			p.add(mp+".count", "must not be negative")
		}
		if m.Count > 1 && m.Interval <= 0 && m.Deferred["interval"] == "" {
			p.add(mp+".interval", "required when count is more than 1")
		}
		if m.Interval < 0 || m.InitialDelay < 0 {
			p.add(mp+".interval", "must not be negative")
		}
		for field, v := range map[string]int{"inconclusiveLimit": m.InconclusiveLimit, "consecutiveSuccessLimit": m.ConsecutiveSuccessLimit, "consecutiveErrorLimit": *m.ConsecutiveErrorLimit} {
			if v < 0 {
				p.add(mp+"."+field, "must not be negative")
			}
		}
		// -1 is Argo's "failures do not count"; then only a streak of
		// successes can end the metric well.
		switch {
		case m.FailureLimit < -1:
			p.add(mp+".failureLimit", "must be -1 (no limit) or more")
		case m.FailureLimit == -1 && m.ConsecutiveSuccessLimit == 0:
			p.add(mp+".failureLimit", "-1 (no limit) needs consecutiveSuccessLimit: nothing else could end the metric")
		}
		for field, cond := range map[string]string{"successCondition": m.SuccessCondition, "failureCondition": m.FailureCondition} {
			if cond == "" {
				continue
			}
			// Argo fills {{args.*}} into the whole metric, conditions
			// included; its value is known only when a plan runs it.
			cond = argRef.ReplaceAllString(cond, "1")
			if _, err := expr.Compile(cond, expr.Env(ResultEnv{}), expr.AsBool()); err != nil {
				p.add(mp+"."+field, "%v", err)
			}
		}
		n := 0
		var judge *Judge
		jp := ""
		if g := m.Provider.Gateway; g != nil {
			n++
			judge, jp = g.Judge, mp+".provider.gateway.judge"
			if g.Window <= 0 {
				p.add(mp+".provider.gateway.window", "must be positive")
			}
			if g.Judge == nil && !gatewayValues[g.Value] {
				p.add(mp+".provider.gateway.value", "%q is not one of errorRate, requests, p50, p99 (or set judge)", g.Value)
			}
			if g.Judge == nil && m.SuccessCondition == "" && m.FailureCondition == "" {
				p.add(mp, "set successCondition or failureCondition, or a judge")
			}
		}
		if pr := m.Provider.Prometheus; pr != nil {
			n++
			judge, jp = pr.Judge, mp+".provider.prometheus.judge"
			// An argument fills in later; "1" stands for it as a host or a port.
			address := argRef.ReplaceAllString(pr.Address, "1")
			if u, err := url.Parse(address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.add(mp+".provider.prometheus.address", "%q is not an http(s) URL", pr.Address)
			}
			if pr.Query == "" {
				p.add(mp+".provider.prometheus.query", "required")
			}
			for i, h := range pr.Headers {
				if h.Key == "" {
					p.add(fmt.Sprintf("%s.provider.prometheus.headers[%d].key", mp, i), "required")
				}
			}
			if rq := pr.RangeQuery; rq != nil {
				// Fields written by arguments are checked when measured.
				for field, v := range map[string]string{"start": rq.Start, "end": rq.End} {
					if _, err := EvalTime(v); err != nil && !argRef.MatchString(v) {
						p.add(mp+".provider.prometheus.rangeQuery."+field, "%q is not a time expression such as now() - duration('5m'): %v", v, err)
					}
				}
				if d, err := time.ParseDuration(rq.Step); (err != nil || d <= 0) && !argRef.MatchString(rq.Step) {
					p.add(mp+".provider.prometheus.rangeQuery.step", "%q is not a duration such as 1m", rq.Step)
				}
				if pr.Judge != nil {
					p.add(mp+".provider.prometheus.rangeQuery", "a judge compares per-side counts of an instant query; drop rangeQuery or the judge")
				}
			}
			if pr.Judge == nil && m.SuccessCondition == "" && m.FailureCondition == "" {
				p.add(mp, "set successCondition or failureCondition, or a judge")
			}
			if pr.Judge != nil && pr.RequestsQuery == "" {
				p.add(mp+".provider.prometheus.requestsQuery", "required with a judge: per-side request counts (query gives per-side error counts)")
			}
			if pr.Judge != nil && pr.Judge.Latency != nil {
				p.add(mp+".provider.prometheus.judge.latency", "needs latency samples, which only the gateway provider has; judge a latency query with a condition")
			}
		}
		if l := m.Provider.Load; l != nil {
			n++
			if u, err := url.Parse(l.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.add(mp+".provider.load.url", "%q is not an http(s) URL", l.URL)
			}
			if !loadRate.MatchString(l.Rate) {
				p.add(mp+".provider.load.rate", "%q is not a rate such as 100/s", l.Rate)
			}
			if l.Duration <= 0 {
				p.add(mp+".provider.load.duration", "must be positive")
			}
			if m.SuccessCondition == "" && m.FailureCondition == "" {
				p.add(mp, "set successCondition or failureCondition on result.rps, result.p99, result.errorRate")
			}
		}
		if w := m.Provider.Web; w != nil {
			n++
			validateWeb(p, mp, m, w)
		}
		if j := m.Provider.Job; j != nil {
			n++
			if j.Spec.Kind != yaml.MappingNode {
				p.add(mp+".provider.job.spec", "required: a batch/v1 Job's spec")
			}
		}
		if dd := m.Provider.Datadog; dd != nil {
			n++
			validateDatadog(p, mp+".provider.datadog", dd)
		}
		if n != 1 && !(n == 0 && m.Provider.refused) {
			p.add(mp+".provider", "set exactly one of gateway, prometheus, web, datadog or load")
		}
		if judge != nil {
			validateJudge(p, jp, judge)
		}
	}
}

func validateJudge(p *problems, path string, j *Judge) {
	if j.ErrorRate == nil && j.Latency == nil {
		p.add(path, "set errorRate, latency or both")
	}
	if j.MinSamples < 1 {
		p.add(path+".minSamples", "must be at least 1")
	}
	if e := j.ErrorRate; e != nil {
		if e.MaxIncrease <= 0 || e.MaxIncrease >= 1 {
			p.add(path+".errorRate.maxIncrease", "must be between 0 and 1 (an absolute increase, e.g. 0.01)")
		}
		if e.Alpha <= 0 || e.Alpha >= 0.5 {
			p.add(path+".errorRate.alpha", "must be between 0 and 0.5")
		}
		if e.Beta <= 0 || e.Beta >= 0.5 {
			p.add(path+".errorRate.beta", "must be between 0 and 0.5")
		}
	}
	if l := j.Latency; l != nil {
		if l.MaxRatio < 1 {
			p.add(path+".latency.maxRatio", "must be at least 1")
		}
		if l.Alpha <= 0 || l.Alpha >= 0.5 {
			p.add(path+".latency.alpha", "must be between 0 and 0.5")
		}
	}
}

func validateAnalysisRef(p *problems, path string, a *StepAnalysis, templates map[string]*AnalysisTemplate) {
	if len(a.Templates) == 0 && len(a.Metrics) == 0 {
		p.add(path, "set templates or metrics")
	}
	given := validateArgs(p, path+".args", a.Args)
	// The values the plan will fill in, as the engine does: the templates'
	// defaults, then the plan's own, then the sides.
	values := map[string]string{"route": "", "stable": "", "canary": ""}
	resolved := map[string]Resolved{}
	for i, ref := range a.Templates {
		r, err := Resolve(ref.TemplateName, templates)
		if templates[ref.TemplateName] == nil {
			p.add(fmt.Sprintf("%s.templates[%d].templateName", path, i), "unknown AnalysisTemplate %q (the templates are %s)", ref.TemplateName, names(templates))
			continue
		}
		if err != nil {
			continue // reported at the template
		}
		resolved[ref.TemplateName] = r
		for _, arg := range r.Args {
			// A value from valueFrom is read on Kubernetes before the run.
			if arg.Value == nil && arg.ValueFrom == nil && !given[arg.Name] && !arg.refused {
				p.add(path+".args", "template %q needs argument %q", ref.TemplateName, arg.Name)
			}
			if arg.Value != nil {
				values[arg.Name] = *arg.Value
			}
		}
	}
	for _, arg := range a.Args {
		if arg.Value != nil {
			values[arg.Name] = *arg.Value
		}
	}
	validateMetrics(p, path+".metrics", a.Metrics, false)
	all := slices.Clone(a.Metrics)
	for _, ref := range a.Templates {
		all = append(all, resolved[ref.TemplateName].Metrics...)
	}
	validateRunOptions(p, path, a.RunOptions, all)
	// Fields an argument fills in are checked with the values given here.
	check := func(where string, m Metric) {
		if len(m.Deferred) == 0 {
			return
		}
		if err := m.ApplyArgs(values); err != nil {
			p.add(path+".args", "%smetric %q: %v", where, m.Name, err)
		}
	}
	for _, ref := range a.Templates {
		for _, m := range resolved[ref.TemplateName].Metrics {
			check(fmt.Sprintf("template %q: ", ref.TemplateName), m)
		}
	}
	for _, m := range a.Metrics {
		check("", m)
	}
}

// validateRollout checks r against the gateway's routes and the templates;
// driven maps each route to the rollout that drives it.
func validateRollout(r *Rollout, gatewayRoutes []Route, templates map[string]*AnalysisTemplate, driven map[string]string, p *problems) {
	if r.APIVersion != APIVersion {
		p.add("apiVersion", "%q is not supported (want %s)", r.APIVersion, APIVersion)
	}
	validateName(p, "metadata.name", r.Metadata.Name)
	var route *Route
	for i := range gatewayRoutes {
		if gatewayRoutes[i].Name == r.Spec.Route {
			route = &gatewayRoutes[i]
		}
	}
	switch {
	case r.Spec.Route == "":
		p.add("spec.route", "required")
	case route == nil:
		known := map[string]bool{}
		for _, rt := range gatewayRoutes {
			known[rt.Name] = true
		}
		p.add("spec.route", "unknown route %q (the routes are %s)", r.Spec.Route, names(known))
	case driven[r.Spec.Route] != "":
		p.add("spec.route", "route %q is already driven by rollout %q", r.Spec.Route, driven[r.Spec.Route])
	}
	driven[r.Spec.Route] = r.Metadata.Name
	for i, rg := range r.Spec.RemoteGateways {
		rp := fmt.Sprintf("spec.remoteGateways[%d]", i)
		if u, err := url.Parse(rg.Admin); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add(rp+".admin", "%q is not an http(s) URL of an admin API", rg.Admin)
		}
		validateFile(p, rp+".tokenFile", rg.TokenFile)
	}
	validateNotifications(p, "spec.notifications", r.Spec.Notifications)
	c, bg := r.Spec.Strategy.Canary, r.Spec.Strategy.BlueGreen
	switch {
	case c != nil && bg != nil:
		p.add("spec.strategy.blueGreen", "give canary or blueGreen, not both")
		return
	case bg != nil:
		validateBlueGreen(bg, r.Spec.Route, route, templates, p)
		// From here on the plan is the canary steps it amounts to.
		r.Spec.Strategy.Canary = &CanaryStrategy{StableService: bg.ActiveService, CanaryService: bg.PreviewService, Steps: bg.CanarySteps()}
		return
	case c == nil:
		p.add("spec.strategy", "required: canary or blueGreen")
		return
	}
	if c.TrafficRouting {
		p.add("spec.strategy.canary.trafficRouting", "remove it: the gateway routes the traffic itself")
	}
	inRoute := func(name string) bool {
		if route == nil {
			return true // already reported
		}
		for _, b := range route.Backends {
			if b.Name == name {
				return true
			}
		}
		return false
	}
	for field, name := range map[string]string{"stableService": c.StableService, "canaryService": c.CanaryService} {
		switch {
		case name == "":
			p.add("spec.strategy.canary."+field, "required: a backend of route %q", r.Spec.Route)
		case !inRoute(name):
			inIt := map[string]bool{}
			for _, b := range route.Backends {
				inIt[b.Name] = true
			}
			p.add("spec.strategy.canary."+field, "%q is not a backend of route %q (it has %s)", name, r.Spec.Route, names(inIt))
		}
	}
	if c.StableService != "" && c.StableService == c.CanaryService {
		p.add("spec.strategy.canary.canaryService", "must differ from stableService")
	}
	// No steps is Argo's full promotion at once (its shouldFullPromote:
	// "Completed all 0 canary steps"), after a background analysis's
	// first measurement.
	weight := 0
	if route != nil {
		for _, b := range route.Backends {
			if b.Name == c.CanaryService && b.Weight != nil {
				weight = *b.Weight
			}
		}
	}
	headerRoutes, mirrorRoutes := map[string]bool{}, map[string]bool{}
	for i := range c.Steps {
		s := &c.Steps[i]
		sp := fmt.Sprintf("spec.strategy.canary.steps[%d]", i)
		n := 0
		if s.SetWeight != nil {
			n++
			switch w := *s.SetWeight; {
			case w < 0 || w > 100:
				p.add(sp+".setWeight", "%d must be between 0 and 100", w)
			case i > 0 && w == weight:
				p.add(sp+".setWeight", "changes nothing: the weight is already %d", w)
			default:
				weight = w
			}
		}
		if s.Pause != nil {
			n++
			switch {
			case s.Pause.invalid != "":
				p.add(sp+".pause.duration", "invalid duration %s (want seconds or e.g. 60s, 1h)", s.Pause.invalid)
			case s.Pause.Duration != nil && *s.Pause.Duration < 0:
				p.add(sp+".pause.duration", "must not be negative")
			}
		}
		if h := s.SetHeaderRoute; h != nil {
			n++
			validateManagedName(p, sp+".setHeaderRoute.name", h.Name, gatewayRoutes, mirrorRoutes, "mirror")
			headerRoutes[h.Name] = true
			for j, m := range h.Match {
				mp := fmt.Sprintf("%s.setHeaderRoute.match[%d]", sp, j)
				switch {
				case m.HeaderName != "" && m.QueryParamName == "":
					if !isToken(m.HeaderName) {
						p.add(mp+".headerName", "%q is not a valid header name", m.HeaderName)
					}
					if m.HeaderValue == nil || m.QueryParamValue != nil {
						p.add(mp+".headerValue", "required with headerName")
					} else {
						validateStringMatch(p, mp+".headerValue", m.HeaderValue, false)
					}
				case m.QueryParamName != "" && m.HeaderName == "":
					if m.QueryParamValue == nil || m.HeaderValue != nil {
						p.add(mp+".queryParamValue", "required with queryParamName")
					} else {
						validateStringMatch(p, mp+".queryParamValue", m.QueryParamValue, false)
					}
				default:
					p.add(mp, "set headerName or queryParamName")
				}
			}
		}
		if m := s.SetMirrorRoute; m != nil {
			n++
			validateManagedName(p, sp+".setMirrorRoute.name", m.Name, gatewayRoutes, headerRoutes, "header")
			mirrorRoutes[m.Name] = true
			if m.Percentage != nil && (*m.Percentage < 0 || *m.Percentage > 100) {
				p.add(sp+".setMirrorRoute.percentage", "%d must be between 0 and 100", *m.Percentage)
			}
			for j, mm := range m.Match {
				mp := fmt.Sprintf("%s.setMirrorRoute.match[%d]", sp, j)
				if mm.Path != nil {
					validateStringMatch(p, mp+".path", mm.Path, false)
				}
				if mm.Method != nil && (mm.Method.Exact == nil || mm.Method.Prefix != nil || mm.Method.Regex != nil) {
					p.add(mp+".method", "only exact is supported for a method")
				}
				for name, hv := range mm.Headers {
					if !isToken(name) {
						p.add(mp+".headers", "%q is not a valid header name", name)
					}
					validateStringMatch(p, mp+".headers."+name, &hv, false)
				}
			}
		}
		if s.Analysis != nil {
			n++
			validateAnalysisRef(p, sp+".analysis", s.Analysis, templates)
		}
		if n != 1 && !(n == 0 && s.PodsOnly) {
			p.add(sp, "set exactly one of setWeight, pause, setHeaderRoute, setMirrorRoute or analysis")
		}
	}
	if a := c.Analysis; a != nil {
		validateAnalysisRef(p, "spec.strategy.canary.analysis", &a.StepAnalysis, templates)
		if a.StartingStep < 0 || a.StartingStep >= max(len(c.Steps), 1) {
			p.add("spec.strategy.canary.analysis.startingStep", "%d is not a step index (0-%d)", a.StartingStep, len(c.Steps)-1)
		}
	}
}

func validateBlueGreen(bg *BlueGreenStrategy, routeName string, route *Route, templates map[string]*AnalysisTemplate, p *problems) {
	const bp = "spec.strategy.blueGreen"
	backends := map[string]*RouteBackend{}
	if route != nil {
		for i := range route.Backends {
			backends[route.Backends[i].Name] = &route.Backends[i]
		}
	}
	for field, name := range map[string]string{"activeService": bg.ActiveService, "previewService": bg.PreviewService} {
		switch {
		case name == "":
			p.add(bp+"."+field, "required: a backend of route %q", routeName)
		case route != nil && backends[name] == nil:
			p.add(bp+"."+field, "%q is not a backend of route %q (it has %s)", name, routeName, names(backends))
		}
	}
	if bg.ActiveService != "" && bg.ActiveService == bg.PreviewService {
		p.add(bp+".previewService", "must differ from activeService")
	}
	// Argo's preview Service takes no production traffic before the switch.
	if b := backends[bg.PreviewService]; b != nil && b.Weight != nil && *b.Weight != 0 {
		p.add(bp+".previewService", "backend %q has weight %d in route %q: blueGreen switches all traffic at once, so it must start at 0", b.Name, *b.Weight, routeName)
	}
	if bg.AutoPromotionSeconds != nil && *bg.AutoPromotionSeconds < 0 {
		p.add(bp+".autoPromotionSeconds", "must not be negative")
	}
	if bg.ScaleDownDelaySeconds != nil && *bg.ScaleDownDelaySeconds < 0 {
		p.add(bp+".scaleDownDelaySeconds", "must not be negative")
	}
	if h := bg.PreviewHeader; h != nil {
		switch {
		case !isToken(h.HeaderName):
			p.add(bp+".previewHeader.headerName", "%q is not a valid header name", h.HeaderName)
		case h.HeaderValue == nil || h.QueryParamName != "":
			p.add(bp+".previewHeader.headerValue", "required: the value that sends a request to the preview")
		default:
			validateStringMatch(p, bp+".previewHeader.headerValue", h.HeaderValue, false)
		}
	}
	if a := bg.PrePromotionAnalysis; a != nil {
		validateAnalysisRef(p, bp+".prePromotionAnalysis", a, templates)
	}
	if a := bg.PostPromotionAnalysis; a != nil {
		validateAnalysisRef(p, bp+".postPromotionAnalysis", a, templates)
	}
}

// validateManagedName checks the name of a route a plan adds: it must not
// be a gateway route's, nor a managed route's of the other kind.
func validateManagedName(p *problems, path, name string, gatewayRoutes []Route, other map[string]bool, otherKind string) {
	validateName(p, path, name)
	if other[name] {
		p.add(path, "%q is already the name of a %s route", name, otherKind)
	}
	for _, gr := range gatewayRoutes {
		if gr.Name == name {
			p.add(path, "%q is already the name of a gateway route", name)
		}
	}
}

// loadRate is a load provider's rate: 100, 100/s, 6000/1m.
var loadRate = regexp.MustCompile(`^[1-9][0-9]*(/[0-9]*(ns|us|µs|ms|s|m|h))?$`)

// ResultEnv is what a metric's conditions see. result is a list of
// numbers for the gateway and Prometheus providers and named figures for
// the load provider, so its type is the measurement's.
type ResultEnv struct {
	Result any `expr:"result"`
	// Argo's helpers (utils/evaluate); the analysis package gives them.
	AsInt   func(any) (int64, error)   `expr:"asInt"`
	AsFloat func(any) (float64, error) `expr:"asFloat"`
	IsNaN   func(float64) bool         `expr:"isNaN"`
	IsInf   func(float64) bool         `expr:"isInf"`
	IsNil   func(any) bool             `expr:"isNil"`
	Default func(any, any) any         `expr:"default"`
}

// EvalTime evaluates a range query's start or end as Argo does, with
// expr's now() and duration().
func EvalTime(expression string) (time.Time, error) {
	out, err := expr.Eval(expression, nil)
	if err != nil {
		return time.Time{}, err
	}
	t, ok := out.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("expected a time, got %T", out)
	}
	return t, nil
}
