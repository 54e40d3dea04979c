package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/spec"
)

// Side names in the synthesized plan; the router maps them to Services or
// hosts.
const (
	stableSide = "stable"
	canarySide = "canary"
)

// planFor checks a Cutover's plan with the same validation as cutover.yaml
// and returns it. Problems come back as one error per line, each with the
// field path in the Cutover (spec.strategy.canary.steps[2].setWeight).
func planFor(co *v1alpha1.Cutover, fromCluster ...clusterTemplate) (*rollout.Plan, error) {
	// The sides are the Cutover's stable and canary; a blueGreen's active
	// and preview.
	kind, body, sideKeys := "canary", any(co.Spec.Strategy.Canary), [2]string{"stableService", "canaryService"}
	if co.Spec.Strategy.BlueGreen != nil {
		kind, body, sideKeys = "blueGreen", co.Spec.Strategy.BlueGreen, [2]string{"activeService", "previewService"}
	}
	strategy, err := toMap(body)
	if err != nil {
		return nil, err
	}
	if strategy == nil {
		strategy = map[string]any{}
	}
	strategy[sideKeys[0]], strategy[sideKeys[1]] = stableSide, canarySide
	route := co.Name
	docs := []map[string]any{{
		"apiVersion": spec.APIVersion, "kind": "Gateway",
		"metadata": map[string]any{"name": co.Name},
		"spec": map[string]any{
			"listeners": []any{map[string]any{"name": "mesh", "address": "127.0.0.1:1"}},
			"backends": []any{
				map[string]any{"name": stableSide, "endpoints": []any{"http://stable.invalid:80"}},
				map[string]any{"name": canarySide, "endpoints": []any{"http://canary.invalid:80"}},
			},
			"routes": []any{map[string]any{"name": route, "backends": []any{
				map[string]any{"name": stableSide, "weight": 100}, map[string]any{"name": canarySide, "weight": 0},
			}}},
		},
	}, {
		"apiVersion": spec.APIVersion, "kind": "Rollout",
		"metadata": map[string]any{"name": co.Name},
		"spec":     map[string]any{"route": route, "strategy": map[string]any{kind: strategy}},
	}}
	var templateIdx []int
	for i, at := range co.Spec.AnalysisTemplates {
		var body map[string]any
		if len(at.Spec.Raw) > 0 {
			if err := json.Unmarshal(at.Spec.Raw, &body); err != nil {
				return nil, fmt.Errorf("spec.analysisTemplates[%d].spec: %v", i, err)
			}
		}
		docs = append(docs, map[string]any{
			"apiVersion": spec.APIVersion, "kind": "AnalysisTemplate",
			"metadata": map[string]any{"name": at.Name}, "spec": body,
		})
		templateIdx = append(templateIdx, i)
	}
	var origins []string // of the templates read from the cluster, after the Cutover's
	for _, ct := range fromCluster {
		var body map[string]any
		if err := json.Unmarshal(ct.Spec.Raw, &body); err != nil {
			return nil, fmt.Errorf("%s: %v", ct.from, err)
		}
		docs = append(docs, map[string]any{
			"apiVersion": spec.APIVersion, "kind": "AnalysisTemplate",
			"metadata": map[string]any{"name": ct.Name}, "spec": body,
		})
		origins = append(origins, ct.from)
	}
	var srcs []spec.Source
	for i, d := range docs {
		data, err := yaml.Marshal(d)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, spec.Source{File: fmt.Sprintf("doc%d", i), Data: data})
	}
	cfg, err := spec.ParseSourcesWith(srcs, spec.ParseOptions{Kubernetes: true})
	var list spec.ErrorList
	if errors.As(err, &list) {
		var msgs []string
		for _, e := range list {
			msgs = append(msgs, fieldPath(e, templateIdx, origins)+": "+e.Msg)
		}
		return nil, errors.New(strings.Join(msgs, "\n"))
	}
	if err != nil {
		return nil, err
	}
	for ti, at := range cfg.Templates { // in the Cutover's order
		for i, m := range at.Spec.Metrics {
			if m.Provider.Gateway != nil {
				return nil, fmt.Errorf("spec.analysisTemplates[%d].spec.metrics[%d].provider.gateway: the controller has no embedded gateway to measure; use prometheus with the mesh's metrics", ti, i)
			}
		}
	}
	return rollout.NewPlan(cfg, cfg.Rollouts[0]), nil
}

// fieldPath maps a problem in a synthesized document back to the Cutover.
func fieldPath(e *spec.FieldError, templateIdx []int, origins []string) string {
	switch {
	case e.File == "doc1":
		return e.Path // the Rollout's paths are the Cutover's
	case strings.HasPrefix(e.File, "doc"):
		var n int
		fmt.Sscanf(e.File, "doc%d", &n)
		if n >= 2 && n-2 < len(templateIdx) {
			return fmt.Sprintf("spec.analysisTemplates[%d].%s", templateIdx[n-2], e.Path)
		}
		if i := n - 2 - len(templateIdx); i >= 0 && i < len(origins) {
			return origins[i] + ": " + e.Path
		}
	}
	return e.Path
}

func toMap(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(data, &m)
}
