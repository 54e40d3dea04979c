package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/spec"
)

// resolveArgs fills in the analysis arguments whose values come from
// Kubernetes (Argo's args[].valueFrom): the Cutover's own, in a copy, and
// those of its templates. A Secret or key that is not there is an error
// naming it.
func resolveArgs(ctx context.Context, r client.Reader, co *v1alpha1.Cutover, fromCluster []clusterTemplate) (*v1alpha1.Cutover, []clusterTemplate, error) {
	co = co.DeepCopy()
	for _, a := range analyses(co.Spec.Strategy) {
		for i := range a.Args {
			arg := &a.Args[i]
			if arg.ValueFrom == nil {
				continue
			}
			v, err := argValue(ctx, r, co, arg.Name, arg.ValueFrom)
			if err != nil {
				return nil, nil, err
			}
			arg.Value, arg.ValueFrom = &v, nil
		}
	}
	for i := range co.Spec.AnalysisTemplates {
		at := &co.Spec.AnalysisTemplates[i]
		raw, err := resolveTemplateArgs(ctx, r, co, at.Spec.Raw)
		if err != nil {
			return nil, nil, fmt.Errorf("spec.analysisTemplates[%d]: %w", i, err)
		}
		at.Spec.Raw = raw
	}
	out := make([]clusterTemplate, len(fromCluster))
	for i, ct := range fromCluster {
		raw, err := resolveTemplateArgs(ctx, r, co, ct.Spec.Raw)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", ct.from, err)
		}
		out[i] = ct
		out[i].Spec.Raw = raw
	}
	return co, out, nil
}

// resolveTemplateArgs is resolveArgs for a template's spec as written.
func resolveTemplateArgs(ctx context.Context, r client.Reader, co *v1alpha1.Cutover, raw []byte) ([]byte, error) {
	var body map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &body) != nil {
		return raw, nil // reported by the plan's validation
	}
	args, _ := body["args"].([]any)
	changed := false
	for _, a := range args {
		arg, _ := a.(map[string]any)
		vf, ok := arg["valueFrom"]
		if !ok {
			continue
		}
		name, _ := arg["name"].(string)
		var from spec.ArgValueFrom
		b, _ := json.Marshal(vf)
		var probe map[string]any
		json.Unmarshal(b, &probe)
		if _, ok := probe["podTemplateHashValue"]; ok {
			return nil, fmt.Errorf("args %s: valueFrom.podTemplateHashValue names a ReplicaSet's hash; a Cutover moves traffic between Services and has none", name)
		}
		if err := json.Unmarshal(b, &from); err != nil {
			return nil, fmt.Errorf("args %s: valueFrom: %v", name, err)
		}
		v, err := argValue(ctx, r, co, name, &from)
		if err != nil {
			return nil, err
		}
		delete(arg, "valueFrom")
		arg["value"] = v
		changed = true
	}
	if !changed {
		return raw, nil
	}
	return json.Marshal(body)
}

var fieldKey = regexp.MustCompile(`^metadata\.(labels|annotations)\['([^']+)'\]$`)

func argValue(ctx context.Context, r client.Reader, co *v1alpha1.Cutover, name string, from *spec.ArgValueFrom) (string, error) {
	switch {
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s := &corev1.Secret{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: co.Namespace, Name: ref.Name}, s); err != nil {
			return "", fmt.Errorf("args %s: Secret %s/%s: %w", name, co.Namespace, ref.Name, err)
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			return "", fmt.Errorf("args %s: Secret %s/%s has no key %q", name, co.Namespace, ref.Name, ref.Key)
		}
		return string(v), nil
	case from.FieldRef != nil:
		switch p := from.FieldRef.FieldPath; p {
		case "metadata.name":
			return co.Name, nil
		case "metadata.namespace":
			return co.Namespace, nil
		case "metadata.uid":
			return string(co.UID), nil
		default:
			m := fieldKey.FindStringSubmatch(p)
			if m == nil {
				return "", fmt.Errorf("args %s: valueFrom.fieldRef.fieldPath %q: want metadata.name, metadata.namespace, metadata.uid, metadata.labels['KEY'] or metadata.annotations['KEY']", name, p)
			}
			set := co.Labels
			if m[1] == "annotations" {
				set = co.Annotations
			}
			return set[m[2]], nil
		}
	}
	return "", fmt.Errorf("args %s: valueFrom: set secretKeyRef or fieldRef", name)
}

// analyses are a strategy's analysis blocks.
func analyses(s spec.Strategy) []*spec.StepAnalysis {
	var out []*spec.StepAnalysis
	if c := s.Canary; c != nil {
		for i := range c.Steps {
			if c.Steps[i].Analysis != nil {
				out = append(out, c.Steps[i].Analysis)
			}
		}
		if c.Analysis != nil {
			out = append(out, &c.Analysis.StepAnalysis)
		}
	}
	if b := s.BlueGreen; b != nil {
		for _, a := range []*spec.StepAnalysis{b.PrePromotionAnalysis, b.PostPromotionAnalysis} {
			if a != nil {
				out = append(out, a)
			}
		}
	}
	return out
}
