package analysis

import (
	"reflect"

	"github.com/cutover-dev/cutover/spec"
)

// Substitute fills Argo's {{args.NAME}} (spaces inside the braces
// allowed, as Argo's templates take them) into copies of the metrics. Argo
// fills the whole metric, marshalled to JSON, so every string is filled:
// conditions, each provider's fields, a Job's spec and a web body as
// written.
func Substitute(metrics []spec.Metric, args map[string]string) []spec.Metric {
	fill := func(s string) string { return spec.ExpandArgs(s, args) }
	out := make([]spec.Metric, len(metrics))
	for i := range metrics {
		m := metrics[i].DeepCopy()
		fillStrings(reflect.ValueOf(m).Elem(), fill)
		// Checked when the config was loaded, with these arguments.
		_ = m.ApplyArgs(args)
		out[i] = *m
	}
	return out
}

// fillStrings replaces every string reachable from v through exported
// fields, pointers, slices and maps. v holds a deep copy: nothing it
// reaches is shared.
func fillStrings(v reflect.Value, fill func(string) string) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(fill(v.String()))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			fillStrings(v.Elem(), fill)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillStrings(v.Field(i), fill)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			fillStrings(v.Index(i), fill)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			// A map's values cannot be set in place: fill a copy.
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(iter.Value())
			fillStrings(e, fill)
			v.SetMapIndex(iter.Key(), e)
		}
	}
}
