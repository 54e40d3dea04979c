package analysis

import (
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Values are a query's numbers. One value also compares and computes as a
// plain number, so that Argo's two ways of writing a condition on a single
// value, result >= 0.95 and result[0] >= 0.95, both hold.
type Values []float64

// single is the one number, or an error that says to index.
func (v Values) single() (float64, error) {
	if len(v) != 1 {
		return 0, fmt.Errorf("result has %d values, not one: use result[i]", len(v))
	}
	return v[0], nil
}

// conditionEnv is what a condition sees: result, typed as the measurement
// gave it, and Argo's helpers (utils/evaluate): asInt, asFloat, isNaN,
// isInf, isNil and default.
func conditionEnv(result any) map[string]any {
	if list, ok := result.([]float64); ok {
		result = Values(list)
	}
	return map[string]any{
		"result":  result,
		"asInt":   asInt,
		"asFloat": asFloat,
		"isNaN":   math.IsNaN,
		"isInf":   func(f float64) bool { return math.IsInf(f, 0) },
		// As Argo's, both ask about the result whatever they are given.
		"isNil": func(any) bool { return isNil(result) },
		"default": func(_, fallback any) any {
			if isNil(result) {
				return fallback
			}
			return result
		},
	}
}

// operators make Values with one value a number on either side of a
// comparison or an arithmetic operator.
var operators = func() []expr.Option {
	var opts []expr.Option
	num := func(x any) (float64, error) {
		switch v := x.(type) {
		case Values:
			return v.single()
		case float64:
			return v, nil
		case int:
			return float64(v), nil
		}
		return 0, fmt.Errorf("%T is not a number", x)
	}
	both := func(p []any) (float64, float64, error) {
		a, err := num(p[0])
		if err != nil {
			return 0, 0, err
		}
		b, err := num(p[1])
		return a, b, err
	}
	sigs := []any{new(func(Values, float64) bool), new(func(Values, int) bool), new(func(float64, Values) bool), new(func(int, Values) bool), new(func(Values, Values) bool)}
	arith := []any{new(func(Values, float64) float64), new(func(Values, int) float64), new(func(float64, Values) float64), new(func(int, Values) float64), new(func(Values, Values) float64)}
	cmp := map[string]func(a, b float64) bool{
		">=": func(a, b float64) bool { return a >= b }, ">": func(a, b float64) bool { return a > b },
		"<=": func(a, b float64) bool { return a <= b }, "<": func(a, b float64) bool { return a < b },
		"==": func(a, b float64) bool { return a == b }, "!=": func(a, b float64) bool { return a != b },
	}
	names := map[string]string{">=": "valuesGe", ">": "valuesGt", "<=": "valuesLe", "<": "valuesLt", "==": "valuesEq", "!=": "valuesNe"}
	for op, f := range cmp {
		opts = append(opts, expr.Function(names[op], func(p ...any) (any, error) {
			a, b, err := both(p)
			return f(a, b), err
		}, sigs...), expr.Operator(op, names[op]))
	}
	calc := map[string]func(a, b float64) float64{
		"+": func(a, b float64) float64 { return a + b }, "-": func(a, b float64) float64 { return a - b },
		"*": func(a, b float64) float64 { return a * b }, "/": func(a, b float64) float64 { return a / b },
	}
	anames := map[string]string{"+": "valuesAdd", "-": "valuesSub", "*": "valuesMul", "/": "valuesDiv"}
	for op, f := range calc {
		opts = append(opts, expr.Function(anames[op], func(p ...any) (any, error) {
			a, b, err := both(p)
			return f(a, b), err
		}, arith...), expr.Operator(op, anames[op]))
	}
	return opts
}()

// compileCondition compiles a condition for a result of this type.
func compileCondition(cond string, env map[string]any) (*vm.Program, error) {
	return expr.Compile(cond, append([]expr.Option{expr.Env(env), expr.AsBool()}, operators...)...)
}

func asInt(in any) (int64, error) {
	switch v := in.(type) {
	case string:
		return strconv.ParseInt(v, 10, 64)
	case Values:
		f, err := v.single()
		return int64(f), err
	}
	rv := reflect.ValueOf(in)
	switch {
	case rv.CanInt():
		return rv.Int(), nil
	case rv.CanUint():
		return int64(rv.Uint()), nil
	case rv.CanFloat():
		return int64(rv.Float()), nil
	}
	return 0, fmt.Errorf("asInt() not supported on %T %v", in, in)
}

func asFloat(in any) (float64, error) {
	switch v := in.(type) {
	case string:
		return strconv.ParseFloat(v, 64)
	case Values:
		return v.single()
	}
	rv := reflect.ValueOf(in)
	switch {
	case rv.CanInt():
		return float64(rv.Int()), nil
	case rv.CanUint():
		return float64(rv.Uint()), nil
	case rv.CanFloat():
		return rv.Float(), nil
	}
	return 0, fmt.Errorf("asFloat() not supported on %T %v", in, in)
}

// isNil is Argo's: nil, or a nil pointer, map or slice.
func isNil(in any) bool {
	if in == nil {
		return true
	}
	switch rv := reflect.ValueOf(in); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Chan, reflect.Slice:
		return rv.IsNil()
	}
	return false
}
