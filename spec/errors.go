package spec

import (
	"fmt"
	"strings"
)

// Pos is a place in a config file. Line and Col start at 1; 0 means unknown.
type Pos struct {
	Line, Col int
}

// FieldError is one problem in a config, at a field.
type FieldError struct {
	File string
	Pos  Pos
	// Path names the field as written in YAML, e.g. spec.routes[0].backends[1].weight.
	Path string
	Msg  string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Pos.Line, e.Pos.Col)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in a config, in file order. A config with
// any problem is refused whole.
type ErrorList []*FieldError

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find a single FieldError.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// problems collects field errors by path while validating; positions are
// attached afterwards from the parsed document.
type problems []*FieldError

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}
