//go:build ignore

// gen writes schemas.json.gz: standalone OpenAPI schemas for every kind the
// generator emits, taken from the projects' own files in the Go module
// cache. Built-in kinds come from Kubernetes' swagger.json with $refs
// inlined; custom resources from their CRDs' openAPIV3Schema. Objects that
// list their properties get additionalProperties: false unless they
// preserve unknown fields, so an unknown field is an error, as with
// kubeconform -strict and server-side apply's strict field validation.
//
//	go generate ./manifest/schema
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Sources pin the versions the schemas come from.
var (
	kubernetes = "k8s.io/kubernetes@v1.37.2"
	crds       = map[string][]string{
		"": {}, // filled with istio.io/api at the version go.mod requires
		"github.com/argoproj/argo-rollouts@v1.9.0": {"manifests/crds/rollout-crd.yaml"},
		"github.com/argoproj/argo-cd/v3@v3.4.0":    {"manifests/crds/application-crd.yaml"},
	}
	builtins = map[string]string{
		"v1/ConfigMap":                             "io.k8s.api.core.v1.ConfigMap",
		"v1/Service":                               "io.k8s.api.core.v1.Service",
		"apps/v1/Deployment":                       "io.k8s.api.apps.v1.Deployment",
		"batch/v1/Job":                             "io.k8s.api.batch.v1.Job",
		"autoscaling/v2/HorizontalPodAutoscaler":   "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
		"policy/v1/PodDisruptionBudget":            "io.k8s.api.policy.v1.PodDisruptionBudget",
		"v1/Namespace":                             "io.k8s.api.core.v1.Namespace",
		"discovery.k8s.io/v1/EndpointSlice":        "io.k8s.api.discovery.v1.EndpointSlice",
		"rbac.authorization.k8s.io/v1/Role":        "io.k8s.api.rbac.v1.Role",
		"rbac.authorization.k8s.io/v1/RoleBinding": "io.k8s.api.rbac.v1.RoleBinding",
		"v1/ServiceAccount":                        "io.k8s.api.core.v1.ServiceAccount",
	}
	istioKinds = map[string]bool{"VirtualService": true, "Gateway": true, "EnvoyFilter": true, "DestinationRule": true, "ServiceEntry": true}
)

func main() {
	output := flag.String("o", "schemas.json.gz", "output file")
	flag.Parse()
	out := map[string]any{}

	swagger := map[string]any{}
	readJSON(filepath.Join(moduleDir(kubernetes), "api/openapi-spec/swagger.json"), &swagger)
	defs := swagger["definitions"].(map[string]any)
	for gvk, name := range builtins {
		out[gvk] = strict(expand(defs[name], defs, map[string]bool{}))
	}

	istio := "istio.io/api@" + goModVersion("istio.io/api")
	delete(crds, "")
	crds[istio] = []string{"kubernetes/customresourcedefinitions.gen.yaml"}
	for mod, files := range crds {
		dir := moduleDir(mod)
		for _, f := range files {
			addCRDs(out, mod, filepath.Join(dir, f))
		}
	}

	// cutover's own CRD, generated from api/v1alpha1 by controller-gen.
	addCRDs(out, "", filepath.Join("..", "..", "deploy", "crd", "cutover.dev_cutovers.yaml"))

	data, err := json.Marshal(out) // map keys sorted: the same input gives the same bytes
	check(err)
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	check(err)
	_, err = zw.Write(data)
	check(err)
	check(zw.Close())
	check(os.WriteFile(*output, b.Bytes(), 0o644))
	fmt.Printf("%s: %d kinds, %d bytes (%d uncompressed)\n", *output, len(out), b.Len(), len(data))
}

// addCRDs adds the schema of every served version of the CRDs in file.
func addCRDs(out map[string]any, mod, file string) {
	data, err := os.ReadFile(file)
	check(err)
	for _, doc := range strings.Split(string(data), "\n---") {
		var crd struct {
			Kind string `json:"kind"`
			Spec struct {
				Group string `json:"group"`
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Versions []struct {
					Name   string `json:"name"`
					Schema struct {
						OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &crd); err != nil || crd.Kind != "CustomResourceDefinition" {
			continue
		}
		if strings.HasPrefix(mod, "istio.io/") && (crd.Spec.Group != "networking.istio.io" || !istioKinds[crd.Spec.Names.Kind]) {
			continue
		}
		for _, v := range crd.Spec.Versions {
			root := v.Schema.OpenAPIV3Schema
			if root == nil {
				continue
			}
			// The API server validates these itself; the CRDs leave them out.
			props, _ := root["properties"].(map[string]any)
			for _, k := range []string{"apiVersion", "kind"} {
				if props != nil && props[k] == nil {
					props[k] = map[string]any{"type": "string"}
				}
			}
			if props != nil && props["metadata"] == nil {
				props["metadata"] = map[string]any{"type": "object"}
			}
			out[crd.Spec.Group+"/"+v.Name+"/"+crd.Spec.Names.Kind] = strict(root)
		}
	}
}

// expand inlines $refs. Kubernetes' definitions reachable from the kinds
// above are not recursive; seen guards against it anyway.
func expand(v any, defs map[string]any, seen map[string]bool) any {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/definitions/")
			if seen[name] {
				return map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
			}
			seen[name] = true
			defer delete(seen, name)
			return expand(defs[name], defs, seen)
		}
		out := map[string]any{}
		for k, val := range v {
			if k == "description" || k == "x-kubernetes-group-version-kind" {
				continue
			}
			out[k] = expand(val, defs, seen)
		}
		if out["format"] == "int-or-string" {
			delete(out, "type")
			delete(out, "format")
			out["x-kubernetes-int-or-string"] = true
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			out[i] = expand(item, defs, seen)
		}
		return out
	}
	return v
}

// strict closes objects that list their properties, drops descriptions,
// and turns int-or-string into a schema the validator understands.
func strict(v any) any {
	switch v := v.(type) {
	case map[string]any:
		delete(v, "description")
		for k, val := range v {
			v[k] = strict(val)
		}
		if v["x-kubernetes-int-or-string"] == true {
			delete(v, "type")
			delete(v, "anyOf")
			v["anyOf"] = []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}}
		}
		_, hasProps := v["properties"]
		_, hasAdditional := v["additionalProperties"]
		if hasProps && !hasAdditional && v["x-kubernetes-preserve-unknown-fields"] != true {
			v["additionalProperties"] = false
		}
		return v
	case []any:
		for i, item := range v {
			v[i] = strict(item)
		}
		return v
	}
	return v
}

func moduleDir(mod string) string {
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Stderr = os.Stderr
	data, err := cmd.Output()
	check(err)
	var m struct{ Dir string }
	check(json.Unmarshal(data, &m))
	return m.Dir
}

func goModVersion(path string) string {
	data, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", path).Output()
	check(err)
	return strings.TrimSpace(string(data))
}

func readJSON(file string, v any) {
	data, err := os.ReadFile(file)
	check(err)
	check(json.Unmarshal(data, v))
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
