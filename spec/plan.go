package spec

import (
	"bytes"
	"io"
	"reflect"

	"go.yaml.in/yaml/v3"
)

// checkPlans defaults and checks the templates and the rollouts against
// the gateway's routes; each document's problems are placed in it.
func checkPlans(routes []Route, rollouts []*Rollout, rolloutDocs []*decoder, templates []*AnalysisTemplate, templateDocs []*decoder) ErrorList {
	var errs ErrorList
	byName := map[string]*AnalysisTemplate{}
	for i, at := range templates {
		var p problems
		setTemplateDefaults(at)
		validateTemplate(at, byName, &p)
		errs = append(errs, templateDocs[i].place(p)...)
		byName[at.Metadata.Name] = at
	}
	for i, at := range templates {
		var p problems
		validateComposition(at, byName, &p)
		errs = append(errs, templateDocs[i].place(p)...)
	}
	driven := map[string]string{}
	for i, r := range rollouts {
		var p problems
		setRolloutDefaults(r)
		validateRollout(r, routes, byName, driven, &p)
		errs = append(errs, rolloutDocs[i].place(p)...)
	}
	return errs
}

// DecodedTemplate is an AnalysisTemplate read on its own by DecodeTemplate,
// remembering where each of its fields was written.
type DecodedTemplate struct {
	*AnalysisTemplate
	doc *decoder
}

// DecodeTemplate reads an analysis template's spec (JSON or YAML) as a
// template named name, with the checks of a template document's
// decoding: unknown, ignored and refused fields, and {{args.*}} deferred.
// Its problems, here and from CheckPlan, name file, with paths from the
// template (spec.metrics[0].provider). With problems it still returns what
// it could read, so that a plan naming it can be checked; nil only when
// data is not JSON or YAML.
func DecodeTemplate(file, name string, data []byte, opts ParseOptions) (*DecodedTemplate, ErrorList) {
	at := &AnalysisTemplate{APIVersion: APIVersion, Kind: KindAnalysisTemplate, Metadata: Metadata{Name: name}}
	d := &decoder{file: file, pos: map[string]Pos{}, kube: opts.Kubernetes}
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil && err != io.EOF {
		return nil, ErrorList{syntaxError(file, data, err)}
	}
	if len(root.Content) > 0 {
		d.decode(root.Content[0], reflect.ValueOf(&at.Spec).Elem(), "spec")
	}
	return &DecodedTemplate{at, d}, d.errs
}

// CheckPlan is the check of a Rollout document for a plan held as values
// rather than read from cutover.yaml (the Cutover resource's): r drives
// route, whose backends and weights are what a Gateway's route would
// hold, and may name templates. r and the templates get their defaults.
// r's problems come back with no file, by their path in a Rollout
// document (spec.strategy.canary.steps[2].setWeight); a template's name
// the file it was decoded from.
func CheckPlan(r *Rollout, route Route, templates []*DecodedTemplate) ErrorList {
	ats := make([]*AnalysisTemplate, len(templates))
	docs := make([]*decoder, len(templates))
	for i, t := range templates {
		ats[i], docs[i] = t.AnalysisTemplate, t.doc
	}
	errs := checkPlans([]Route{route}, []*Rollout{r}, []*decoder{{pos: map[string]Pos{}}}, ats, docs)
	sortErrors(errs)
	return errs
}
