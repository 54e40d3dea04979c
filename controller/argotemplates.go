package controller

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cutover-dev/cutover/api/v1alpha1"
	"github.com/cutover-dev/cutover/spec"
)

// Argo Rollouts' template kinds, which a Cutover may name as they are in
// the cluster.
var (
	argoTemplate        = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "AnalysisTemplate"}
	argoClusterTemplate = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "ClusterAnalysisTemplate"}
)

// clusterTemplate is a template read from the cluster, for error messages.
type clusterTemplate struct {
	v1alpha1.AnalysisTemplate
	from string // "AnalysisTemplate shop/name" or "ClusterAnalysisTemplate name"
}

// argoTemplates reads the Argo Rollouts templates a Cutover's analyses name
// that its spec.analysisTemplates does not hold, and those they are
// composed of. One that is not in the cluster (or Argo's CRDs that are
// not installed) is left for the plan's validation to report as unknown.
func argoTemplates(ctx context.Context, c client.Reader, co *v1alpha1.Cutover) ([]clusterTemplate, error) {
	have := map[string]bool{}
	for _, at := range co.Spec.AnalysisTemplates {
		have[at.Name] = true
	}
	var out []clusterTemplate
	queue := templateRefs(co.Spec.Strategy)
	for len(queue) > 0 {
		ref := queue[0]
		queue = queue[1:]
		if have[ref.TemplateName] {
			continue
		}
		have[ref.TemplateName] = true
		u := &unstructured.Unstructured{}
		key := types.NamespacedName{Namespace: co.Namespace, Name: ref.TemplateName}
		u.SetGroupVersionKind(argoTemplate)
		from := fmt.Sprintf("AnalysisTemplate %s/%s", co.Namespace, ref.TemplateName)
		if ref.ClusterScope {
			key.Namespace = ""
			u.SetGroupVersionKind(argoClusterTemplate)
			from = "ClusterAnalysisTemplate " + ref.TemplateName
		}
		err := c.Get(ctx, key, u)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", from, err)
		}
		body, _, _ := unstructured.NestedMap(u.Object, "spec")
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		out = append(out, clusterTemplate{v1alpha1.AnalysisTemplate{Name: ref.TemplateName, Spec: runtime.RawExtension{Raw: raw}}, from})
		// Argo's composition: the templates this one is made of.
		composed, _, _ := unstructured.NestedSlice(body, "templates")
		for _, t := range composed {
			m, _ := t.(map[string]any)
			name, _ := m["templateName"].(string)
			cluster, _ := m["clusterScope"].(bool)
			queue = append(queue, spec.TemplateRef{TemplateName: name, ClusterScope: cluster})
		}
	}
	return out, nil
}

// templateRefs are the templates a strategy's analyses name.
func templateRefs(s spec.Strategy) []spec.TemplateRef {
	var out []spec.TemplateRef
	for _, a := range analyses(s) {
		out = append(out, a.Templates...)
	}
	return out
}
