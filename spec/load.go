package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is a loaded, defaulted and validated cutover.yaml, possibly spread
// over several files (a plan in a file of its own, say).
type Config struct {
	// File is the first file the config was read from; Files all of them.
	File  string
	Files []string
	// Hash is the SHA-256 of the file's bytes (of their hashes, for several
	// files), hex encoded.
	Hash      string
	Gateway   *Gateway
	Rollouts  []*Rollout
	Templates []*AnalysisTemplate
	// Warnings are fields accepted without effect (Argo's pod fields), in
	// file order; validate --strict refuses them.
	Warnings ErrorList
}

// Load reads, parses, defaults and validates the config files as one
// config. On any problem it returns an ErrorList and no Config.
func Load(files ...string) (*Config, error) {
	srcs := make([]Source, len(files))
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		srcs[i] = Source{File: f, Data: data}
	}
	return ParseSources(srcs)
}

// Source is one file's name and bytes.
type Source struct {
	File string
	Data []byte
}

// HashSources is the Hash of a Config read from srcs.
func HashSources(srcs []Source) string {
	if len(srcs) == 1 {
		return HashBytes(srcs[0].Data)
	}
	var all []byte
	for _, s := range srcs {
		all = append(all, HashBytes(s.Data)...)
	}
	return HashBytes(all)
}

const wantKinds = "Gateway, Rollout or AnalysisTemplate"

// Parse is Load for one file's bytes already read; file names them in errors.
func Parse(file string, data []byte) (*Config, error) {
	return ParseSources([]Source{{File: file, Data: data}})
}

// ParseOptions say where a config will run.
type ParseOptions struct {
	// Kubernetes: for cutover-kube, which can do what needs a cluster (the
	// job provider).
	Kubernetes bool
}

// ParseSources is Load for bytes already read.
func ParseSources(srcs []Source) (*Config, error) {
	return ParseSourcesWith(srcs, ParseOptions{})
}

// ParseSourcesWith is ParseSources with options.
func ParseSourcesWith(srcs []Source, opts ParseOptions) (*Config, error) {
	cfg := &Config{File: srcs[0].File, Hash: HashSources(srcs)}
	var errs ErrorList
	// Each document keeps its decoder: validation that spans documents
	// still points into the right one.
	var gatewayDoc *decoder
	var rolloutDocs, templateDocs []*decoder
	readable := true // every document parsed as YAML
	for _, src := range srcs {
		cfg.Files = append(cfg.Files, src.File)
		docErrs, ok := parseDocuments(cfg, src.File, src.Data, opts, &gatewayDoc, &rolloutDocs, &templateDocs)
		errs = append(errs, docErrs...)
		readable = readable && ok
	}
	if readable && cfg.Gateway == nil {
		errs = append(errs, &FieldError{File: cfg.File, Msg: "no Gateway document found"})
		readable = false
	}
	// Unknown fields do not stop the checks of the rest: everything wrong
	// is reported in one pass. A field that could not be decoded is not
	// reported again by the checks of its value.
	if readable {
		decodeErrs := slices.Clone(errs)
		for _, fe := range checkAll(cfg, gatewayDoc, rolloutDocs, templateDocs, len(errs) > 0) {
			if !coveredBy(fe, decodeErrs) {
				errs = append(errs, fe)
			}
		}
	}
	if len(errs) > 0 {
		sortErrors(errs)
		return nil, errs
	}
	sortErrors(cfg.Warnings)
	return cfg, nil
}

// checkAll is finish's errors. After decoding errors the values may be
// partly filled in; should a check trip over one, the decoding errors are
// reported alone.
func checkAll(cfg *Config, gatewayDoc *decoder, rolloutDocs, templateDocs []*decoder, decodeFailed bool) (errs ErrorList) {
	defer func() {
		if r := recover(); r != nil {
			if !decodeFailed {
				panic(r)
			}
			errs = nil
		}
	}()
	if err := finish(cfg, gatewayDoc, rolloutDocs, templateDocs); err != nil {
		return err.(ErrorList)
	}
	return nil
}

// coveredBy reports whether a validation error is about a field, or a part
// of a field, that already has a decoding error.
func coveredBy(e *FieldError, decodeErrs ErrorList) bool {
	for _, d := range decodeErrs {
		if d.File == e.File && d.Path != "" && (e.Path == d.Path || strings.HasPrefix(e.Path, d.Path+".") || strings.HasPrefix(e.Path, d.Path+"[")) {
			return true
		}
	}
	return false
}

// parseDocuments decodes every document of a file; ok is false when the
// file is not YAML or a document's kind is unknown, so that nothing can be
// checked further.
func parseDocuments(cfg *Config, file string, data []byte, opts ParseOptions, gatewayDoc **decoder, rolloutDocs, templateDocs *[]*decoder) (errs ErrorList, ok bool) {
	ok = true
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, syntaxError(file, data, err))
			ok = false
			break
		}
		if len(root.Content) == 0 || root.Content[0].Tag == "!!null" {
			continue // an empty document, e.g. after a trailing ---
		}
		node := root.Content[0]
		d := &decoder{file: file, pos: map[string]Pos{}, kube: opts.Kubernetes}
		kind, kindPos := scalarField(node, "kind")
		switch kind {
		case KindGateway:
			if cfg.Gateway != nil {
				errs = append(errs, &FieldError{File: file, Pos: kindPos, Path: "kind", Msg: "only one Gateway document is allowed per config"})
				ok = false
				continue
			}
			cfg.Gateway = &Gateway{}
			d.decode(node, reflect.ValueOf(cfg.Gateway).Elem(), "")
			*gatewayDoc = d
		case KindRollout:
			r := &Rollout{}
			d.decode(node, reflect.ValueOf(r).Elem(), "")
			cfg.Rollouts = append(cfg.Rollouts, r)
			*rolloutDocs = append(*rolloutDocs, d)
		case KindAnalysisTemplate:
			at := &AnalysisTemplate{}
			d.decode(node, reflect.ValueOf(at).Elem(), "")
			cfg.Templates = append(cfg.Templates, at)
			*templateDocs = append(*templateDocs, d)
		case "":
			errs = append(errs, &FieldError{File: file, Pos: nodePos(node), Path: "kind", Msg: "required (want " + wantKinds + ")"})
			ok = false
		default:
			errs = append(errs, &FieldError{File: file, Pos: kindPos, Path: "kind", Msg: fmt.Sprintf("unsupported kind %q (want %s)", kind, wantKinds)})
			ok = false
		}
		errs = append(errs, d.errs...)
		cfg.Warnings = append(cfg.Warnings, d.warnings...)
	}
	return errs, ok
}

// finish defaults and validates the parsed documents, across documents.
func finish(cfg *Config, gatewayDoc *decoder, rolloutDocs, templateDocs []*decoder) error {
	var errs ErrorList
	SetDefaults(cfg.Gateway)
	var p problems
	validateGateway(cfg.Gateway, &p)
	errs = append(errs, gatewayDoc.place(p)...)
	errs = append(errs, checkPlans(cfg.Gateway.Spec.Routes, cfg.Rollouts, rolloutDocs, cfg.Templates, templateDocs)...)
	if len(errs) > 0 {
		sortErrors(errs)
		return errs
	}
	return nil
}

// place gives validation problems the file and position of their field.
func (d *decoder) place(p problems) ErrorList {
	for _, e := range p {
		e.File = d.file
		e.Pos = d.lookup(e.Path)
	}
	return ErrorList(p)
}

// HashBytes is the hash a Config of these bytes carries.
func HashBytes(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func syntaxError(file string, data []byte, err error) *FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n != 1 {
		return &FieldError{File: file, Msg: msg}
	}
	msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	if isParserProblem(msg) {
		line++
	}
	// yaml.v3 reports where the enclosing block began, which can be far
	// above the mistake; the first prefix of the file that fails the same
	// way ends on the line at fault.
	if at := firstFailingLine(data, msg); at > line {
		line = at
	}
	return &FieldError{File: file, Pos: Pos{Line: line, Col: 1}, Msg: msg}
}

func firstFailingLine(data []byte, msg string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > 5000 {
		return 0
	}
	for n := 1; n <= len(lines); n++ {
		dec := yaml.NewDecoder(bytes.NewReader(bytes.Join(lines[:n], nil)))
		for {
			var node yaml.Node
			err := dec.Decode(&node)
			if err == nil {
				continue
			}
			if !errors.Is(err, io.EOF) && strings.HasSuffix(err.Error(), msg) {
				return n
			}
			break
		}
	}
	return 0
}

// isParserProblem reports whether a yaml.v3 syntax error came from its
// parser, whose line numbers are 0-based, rather than from its scanner,
// whose are 1-based (yaml.v3 decode.go, parser.fail).
func isParserProblem(msg string) bool {
	for _, p := range []string{
		"did not find expected ',' or ']'", "did not find expected ',' or '}'", "did not find expected '-' indicator",
		"did not find expected <document start>", "did not find expected key", "did not find expected node content",
		"found duplicate %", "found incompatible YAML document", "found undefined tag handle",
	} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func sortErrors(errs ErrorList) {
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].File != errs[j].File {
			return errs[i].File < errs[j].File
		}
		a, b := errs[i].Pos, errs[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

func nodePos(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

// scalarField returns the value of key in a mapping node, if it is a scalar.
func scalarField(n *yaml.Node, key string) (string, Pos) {
	if n.Kind != yaml.MappingNode {
		return "", nodePos(n)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value, nodePos(n.Content[i+1])
		}
	}
	return "", nodePos(n)
}

// decoder fills Go values from YAML nodes, rejecting unknown fields and
// remembering where each field path was written so that later validation
// errors can point at the file position.
type decoder struct {
	file     string
	pos      map[string]Pos
	errs     ErrorList
	warnings ErrorList
	kube     bool // fields that need Kubernetes are allowed
}

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	nodeType        = reflect.TypeFor[yaml.Node]()
)

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{File: d.file, Pos: nodePos(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if _, seen := d.pos[path]; !seen {
		d.pos[path] = nodePos(n)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // leave the zero value; defaults fill it in
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n)) // kept as written, checked later
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(n, path, "%s", cleanYAMLError(err))
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.decode(n, elem.Elem(), path)
		v.Set(elem)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "must be a mapping, not %s", describe(n))
			return
		}
		fields := structFields(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			sub := join(path, key.Value)
			if seen[key.Value] {
				d.fail(key, sub, "duplicate field")
				continue
			}
			seen[key.Value] = true
			idx, ok := fields[key.Value]
			if why, ignored := ignoredFields[v.Type()][key.Value]; !ok && ignored {
				d.warnings = append(d.warnings, &FieldError{File: d.file, Pos: nodePos(key), Path: sub, Msg: "ignored: " + why})
				// A value left with no field of its own set is then not
				// also asked for one (setAside).
				if m, ok := v.Addr().Interface().(interface{ setAside() }); ok {
					m.setAside()
				}
				continue
			}
			why, refused := refusedFields[v.Type()][key.Value]
			if !refused && !d.kube {
				why, refused = standaloneRefusedFields[v.Type()][key.Value]
				ok = ok && !refused
			}
			if refused && !ok {
				d.fail(key, sub, "%s", why)
				if m, ok := v.Addr().Interface().(interface{ setAside() }); ok {
					m.setAside() // refused already: not "set exactly one" too
				}
				continue
			}
			if !ok {
				d.fail(key, sub, "unknown field %q", key.Value)
				continue
			}
			d.pos[sub] = nodePos(key)
			if da, can := v.Addr().Interface().(interface{ deferArg(key, raw string) bool }); can &&
				val.Kind == yaml.ScalarNode && argRef.MatchString(val.Value) && da.deferArg(key.Value, val.Value) {
				continue
			}
			d.decode(val, v.FieldByIndex(idx), sub)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "must be a list, not %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "must be a mapping, not %s", describe(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			elem := reflect.New(v.Type().Elem()).Elem()
			sub := join(path, key.Value)
			d.pos[sub] = nodePos(key)
			d.decode(val, elem, sub)
			m.SetMapIndex(reflect.ValueOf(key.Value), elem)
		}
		v.Set(m)
	default:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "must be a %s, not %s", v.Kind(), describe(n))
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(n, path, "%s", cleanYAMLError(err))
		}
	}
}

// lookup finds the position of path, or of its nearest written parent.
func (d *decoder) lookup(path string) Pos {
	for p := path; ; {
		if pos, ok := d.pos[p]; ok {
			return pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return d.pos[""]
		}
		p = p[:i]
	}
}

// structFields maps YAML names to field indexes, flattening ",inline" fields.
func structFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" {
			for k, idx := range structFields(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		out[name] = []int{i}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func cleanYAMLError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "line ") && i > 0 {
		msg = msg[i+2:]
	}
	return msg
}

// DecodeDocument decodes the one YAML document in data into v (a pointer to
// a struct with yaml tags), refusing unknown fields, and returns where each
// field path was written, for errors found later. Other file formats of the
// project (the rate-limit service's) use it to report file:line:col too.
func DecodeDocument(file string, data []byte, v any) (where func(path string) Pos, err error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, ErrorList{syntaxError(file, data, err)}
	}
	d := &decoder{file: file, pos: map[string]Pos{}}
	if len(root.Content) > 0 {
		d.decode(root.Content[0], reflect.ValueOf(v).Elem(), "")
	}
	if len(d.errs) > 0 {
		sortErrors(d.errs)
		return nil, d.errs
	}
	return d.lookup, nil
}
