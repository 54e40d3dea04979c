package kubepatch

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ManagedRoutesAnnotation lists, comma-separated, the routes or rules a plan
// added to an object, so that they can be removed after a restart.
const ManagedRoutesAnnotation = "cutover.dev/managed-routes"

// Op is one RFC 6902 operation.
type Op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Patch is a list of operations; empty means nothing to write.
type Patch []Op

// Test guards the following operations: the patch fails unless path holds v.
func (p *Patch) Test(path string, v any) { *p = append(*p, Op{Op: "test", Path: path, Value: v}) }

// Set replaces the value at path, or adds it when had is false.
func (p *Patch) Set(path string, v any, had bool) {
	op := "add"
	if had {
		op = "replace"
	}
	*p = append(*p, Op{Op: op, Path: path, Value: v})
}

// Add inserts v at path (an index inserts before it, "-" appends).
func (p *Patch) Add(path string, v any) { *p = append(*p, Op{Op: "add", Path: path, Value: v}) }

// Remove deletes the value at path.
func (p *Patch) Remove(path string) { *p = append(*p, Op{Op: "remove", Path: path}) }

// Changes reports whether the patch does more than test.
func (p Patch) Changes() bool {
	return slices.ContainsFunc(p, func(o Op) bool { return o.Op != "test" })
}

// Apply sends the patch; a patch that only tests is not sent.
func (p Patch) Apply(ctx context.Context, c client.Client, obj *unstructured.Unstructured) error {
	if !p.Changes() {
		return nil
	}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, data)); err != nil {
		return fmt.Errorf("patching %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// Escape makes a map key usable in a JSON pointer.
func Escape(key string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}

// ManagedRoutes reads the annotation.
func ManagedRoutes(obj *unstructured.Unstructured) []string {
	v := obj.GetAnnotations()[ManagedRoutesAnnotation]
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// ManagedRoutesExcept are the managed routes not named in keep.
func ManagedRoutesExcept(obj *unstructured.Unstructured, keep []string) []string {
	return slices.DeleteFunc(ManagedRoutes(obj), func(n string) bool { return slices.Contains(keep, n) })
}

// SetManagedRoutes writes the annotation in the patch.
func (p *Patch) SetManagedRoutes(obj *unstructured.Unstructured, names []string) {
	ann := obj.GetAnnotations()
	path := "/metadata/annotations/" + Escape(ManagedRoutesAnnotation)
	switch {
	case ann == nil && len(names) > 0:
		p.Add("/metadata/annotations", map[string]string{ManagedRoutesAnnotation: strings.Join(names, ",")})
	case len(names) == 0 && ann[ManagedRoutesAnnotation] != "":
		p.Remove(path)
	case len(names) > 0:
		_, had := ann[ManagedRoutesAnnotation]
		p.Set(path, strings.Join(names, ","), had)
	}
}

// Index finds the list item whose name is name.
func Index(items []any, name string) int {
	for i, it := range items {
		if m, ok := it.(map[string]any); ok && m["name"] == name {
			return i
		}
	}
	return -1
}

// Int reads a JSON number as decoded into an unstructured object.
func Int(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

// Normalize round-trips v through JSON so that values built in Go compare
// equal to the same values read from the API server.
func Normalize(v any) any {
	data, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(data, &out) != nil {
		return v
	}
	return out
}

// PutManaged adds item, a named entry of the list at fields (spec.http of
// a VirtualService, spec.rules of an HTTPRoute), at position at ("0" first,
// "-" last), or replaces the entry of that name if the plan added it. An
// entry of that name that the plan did not add is an error.
func PutManaged(ctx context.Context, c client.Client, obj *unstructured.Unstructured, fields []string, item map[string]any, at string) error {
	name := item["name"].(string)
	items, _, _ := unstructured.NestedSlice(obj.Object, fields...)
	base := "/" + strings.Join(fields, "/")
	managed := ManagedRoutes(obj)
	var p Patch
	if i := Index(items, name); i >= 0 {
		if !slices.Contains(managed, name) {
			return fmt.Errorf("%s %s/%s already has %q, which the plan did not add; not replacing it", obj.GetKind(), obj.GetNamespace(), obj.GetName(), name)
		}
		if reflect.DeepEqual(Normalize(items[i]), Normalize(item)) {
			return nil
		}
		p.Test(fmt.Sprintf("%s/%d/name", base, i), name)
		p.Set(fmt.Sprintf("%s/%d", base, i), item, true)
		return p.Apply(ctx, c, obj)
	}
	if len(items) > 0 && at == "0" {
		p.Test(base+"/0", items[0]) // nothing was inserted ahead of us meanwhile
	}
	p.Add(base+"/"+at, item)
	p.SetManagedRoutes(obj, append(managed, name))
	return p.Apply(ctx, c, obj)
}

// RemoveManaged removes the named entries the plan added from the list at
// fields; entries it did not add are left alone.
func RemoveManaged(ctx context.Context, c client.Client, obj *unstructured.Unstructured, fields []string, names ...string) error {
	items, _, _ := unstructured.NestedSlice(obj.Object, fields...)
	base := "/" + strings.Join(fields, "/")
	managed := ManagedRoutes(obj)
	keep := slices.DeleteFunc(slices.Clone(managed), func(n string) bool { return slices.Contains(names, n) })
	var idx []int
	for _, n := range names {
		if i := Index(items, n); i >= 0 && slices.Contains(managed, n) {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	slices.Reverse(idx) // from the end, so that the indexes stay valid
	var p Patch
	for _, i := range idx {
		p.Test(fmt.Sprintf("%s/%d/name", base, i), items[i].(map[string]any)["name"])
		p.Remove(fmt.Sprintf("%s/%d", base, i))
	}
	if len(keep) != len(managed) {
		p.SetManagedRoutes(obj, keep)
	}
	return p.Apply(ctx, c, obj)
}
