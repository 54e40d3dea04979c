package spec

import (
	"slices"

	"go.yaml.in/yaml/v3"
)

// The providers that keep YAML as written have their deepcopy functions
// by hand: controller-gen cannot copy a yaml.Node.

// DeepCopyInto copies in into out.
func (in *WebProvider) DeepCopyInto(out *WebProvider) {
	*out = *in
	out.Headers = slices.Clone(in.Headers)
	out.JSONBody = copyNode(in.JSONBody)
}

// DeepCopyInto copies in into out.
func (in *JobProvider) DeepCopyInto(out *JobProvider) {
	*out = *in
	out.Metadata.Content = copyNodes(in.Metadata.Content)
	out.Spec.Content = copyNodes(in.Spec.Content)
}

// DeepCopy copies in.
func (in *WebProvider) DeepCopy() *WebProvider {
	if in == nil {
		return nil
	}
	out := new(WebProvider)
	in.DeepCopyInto(out)
	return out
}

// DeepCopy copies in.
func (in *JobProvider) DeepCopy() *JobProvider {
	if in == nil {
		return nil
	}
	out := new(JobProvider)
	in.DeepCopyInto(out)
	return out
}

func copyNode(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = copyNodes(n.Content)
	c.Alias = copyNode(n.Alias)
	return &c
}

func copyNodes(ns []*yaml.Node) []*yaml.Node {
	if ns == nil {
		return nil
	}
	out := make([]*yaml.Node, len(ns))
	for i, n := range ns {
		out[i] = copyNode(n)
	}
	return out
}
