package schema

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
)

//go:generate go run gen.go

//go:embed schemas.json.gz
var bundle []byte

var (
	loadOnce sync.Once
	schemas  map[string]*spec.Schema
	loadErr  error
)

func load() {
	zr, err := gzip.NewReader(bytes.NewReader(bundle))
	if err != nil {
		loadErr = err
		return
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		loadErr = err
		return
	}
	loadErr = json.Unmarshal(data, &schemas)
}

// Kinds lists the apiVersion/kind pairs with a schema, as group/version/Kind.
func Kinds() []string {
	loadOnce.Do(load)
	return slices.Sorted(maps.Keys(schemas))
}

// Validate checks one object, decoded from JSON, against the schema of its
// apiVersion and kind. Every problem is in the error, one per line, with
// the field path.
func Validate(obj map[string]any) error {
	loadOnce.Do(load)
	if loadErr != nil {
		return fmt.Errorf("loading embedded schemas: %w", loadErr)
	}
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	s, ok := schemas[apiVersion+"/"+kind]
	if !ok {
		return fmt.Errorf("no schema for %s %s", apiVersion, kind)
	}
	res := validate.NewSchemaValidator(s, nil, "", strfmt.Default).Validate(obj)
	if res.IsValid() {
		return nil
	}
	var msgs []string
	for _, e := range res.Errors {
		msgs = append(msgs, e.Error())
	}
	slices.Sort(msgs)
	return fmt.Errorf("schema of %s %s: %s", apiVersion, kind, strings.Join(slices.Compact(msgs), "; "))
}
