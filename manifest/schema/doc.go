// Package schema validates generated objects offline against the schemas
// of their kinds: Kubernetes' OpenAPI spec for built-in kinds and the
// published CRDs for Istio, Argo Rollouts and Argo CD, embedded in the
// binary. schemas.json.gz is written by gen.go from the modules' own files.
package schema
