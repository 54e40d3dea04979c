package controller

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/spec"
)

// Side names in the plan; the router maps them to Services or hosts.
const (
	stableSide = "stable"
	canarySide = "canary"
)

// planFor checks a Cutover's plan with the same validation as cutover.yaml
// and returns it. Problems come back as one error per line, each with the
// field path in the Cutover (spec.strategy.canary.steps[2].setWeight), or
// the cluster template it is in.
func planFor(co *v1alpha1.Cutover, fromCluster ...clusterTemplate) (*rollout.Plan, error) {
	// The check defaults and rewrites the strategy; the Cutover is the
	// informer's.
	strategy := *co.Spec.Strategy.DeepCopy()
	switch {
	case strategy.BlueGreen != nil:
		strategy.BlueGreen.ActiveService, strategy.BlueGreen.PreviewService = stableSide, canarySide
	case strategy.Canary != nil:
		strategy.Canary.StableService, strategy.Canary.CanaryService = stableSide, canarySide
	}
	r := &spec.Rollout{
		APIVersion: spec.APIVersion, Kind: spec.KindRollout,
		Metadata: spec.Metadata{Name: co.Name},
		Spec:     spec.RolloutSpec{Route: co.Name, Strategy: strategy},
	}
	stableWeight, canaryWeight := 100, 0
	route := spec.Route{Name: co.Name, Backends: []spec.RouteBackend{
		{Name: stableSide, Weight: &stableWeight}, {Name: canarySide, Weight: &canaryWeight},
	}}

	var templates []*spec.DecodedTemplate
	var files []string
	var msgs []string
	decode := func(file, name string, raw []byte) {
		t, errs := spec.DecodeTemplate(file, name, raw, spec.ParseOptions{Kubernetes: true})
		for _, e := range errs {
			msgs = append(msgs, placed(e)+": "+e.Msg)
		}
		if t != nil {
			templates, files = append(templates, t), append(files, file)
		}
	}
	for i, at := range co.Spec.AnalysisTemplates {
		decode(fmt.Sprintf("spec.analysisTemplates[%d]", i), at.Name, at.Spec.Raw)
	}
	for _, ct := range fromCluster {
		decode(ct.from, ct.Name, ct.Spec.Raw)
	}
	decodeFailed := len(msgs) > 0
	for _, e := range spec.CheckPlan(r, route, templates) {
		// A template that did not decode has had its problems told.
		if !decodeFailed || e.File == "" {
			msgs = append(msgs, placed(e)+": "+e.Msg)
		}
	}
	if len(msgs) > 0 {
		return nil, errors.New(strings.Join(msgs, "\n"))
	}
	ats := make([]*spec.AnalysisTemplate, len(templates))
	for i, t := range templates {
		ats[i] = t.AnalysisTemplate
		for j, m := range t.Spec.Metrics {
			if m.Provider.Gateway != nil {
				at := &spec.FieldError{File: files[i], Path: fmt.Sprintf("spec.metrics[%d].provider.gateway", j)}
				return nil, fmt.Errorf("%s: the controller has no embedded gateway to measure; use prometheus with the mesh's metrics", placed(at))
			}
		}
	}
	return rollout.NewPlanOf(r, route, ats), nil
}

// placed is where a problem is in the Cutover: the Rollout's paths are the
// Cutover's own; a template's follow the name it was decoded under, which
// is a field of the Cutover or a cluster template's kind and name.
func placed(e *spec.FieldError) string {
	switch {
	case e.File == "":
		return e.Path
	case strings.HasPrefix(e.File, "spec."):
		return e.File + "." + e.Path
	}
	return e.File + ": " + e.Path
}
