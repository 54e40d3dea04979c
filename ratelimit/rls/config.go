package rls

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cutover-dev/cutover/spec"
)

// File is one envoyproxy/ratelimit configuration file: a domain and its
// descriptor tree. Files written for envoyproxy/ratelimit load unchanged.
type File struct {
	Domain      string       `yaml:"domain"`
	Descriptors []Descriptor `yaml:"descriptors"`
}

// Check validates descriptors for a domain as loading them would, calling
// add with each problem's path under path.
func Check(domain, path string, ds []Descriptor, add func(path, format string, args ...any)) {
	compiler{domain: domain, add: add}.compile(&node{children: map[string]*node{}}, domain, path, ds)
}

// Descriptor is one node of the tree: a key, an optional value (each * in
// it matches any run of characters), an optional limit, and children.
type Descriptor struct {
	Key            string       `yaml:"key"`
	Value          string       `yaml:"value,omitempty"`
	RateLimit      *Limit       `yaml:"rate_limit,omitempty"`
	Descriptors    []Descriptor `yaml:"descriptors,omitempty"`
	ShadowMode     bool         `yaml:"shadow_mode,omitempty"`
	DetailedMetric bool         `yaml:"detailed_metric,omitempty"`
	// QuotaMode: being over this limit refuses the request only when every
	// quota-mode limit of the request is over too.
	QuotaMode bool `yaml:"quota_mode,omitempty"`
	// ValueToMetric puts the request's value, not the pattern or the bare
	// key, into the limit's metric key.
	ValueToMetric bool `yaml:"value_to_metric,omitempty"`
	// ShareThreshold makes every value a wildcard matches count against one
	// counter, instead of one counter per value.
	ShareThreshold bool `yaml:"share_threshold,omitempty"`
	// Metadata is returned in the answer's dynamic metadata when the
	// request passes this limit.
	Metadata yaml.Node `yaml:"metadata,omitempty"`
}

// Limit is a descriptor's limit.
type Limit struct {
	Unit string `yaml:"unit,omitempty"`
	// RequestsPerUnit 0 refuses everything (a block list).
	RequestsPerUnit uint32    `yaml:"requests_per_unit"`
	Name            string    `yaml:"name,omitempty"`
	Replaces        []Replace `yaml:"replaces,omitempty"`
	Unlimited       bool      `yaml:"unlimited,omitempty"`
	// Algorithm is fixed_window (envoyproxy/ratelimit's, the default) or
	// sliding_window, which has no 2x burst at window edges.
	Algorithm string `yaml:"algorithm,omitempty"`
}

// Replace names a limit that a matching limit overrides.
type Replace struct {
	Name string `yaml:"name"`
}

// units are envoyproxy/ratelimit's, with its lengths for month and year.
var units = map[string]time.Duration{
	"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour,
	"week": 7 * 24 * time.Hour, "month": 30 * 24 * time.Hour, "year": 365 * 24 * time.Hour,
}

// Rule is a compiled limit.
type Rule struct {
	// Key is the limit's descriptor path, as envoyproxy/ratelimit names it
	// in its stats: domain.key_value.key.
	Key             string
	Domain          string
	Window          time.Duration
	RequestsPerUnit uint32
	Unit            string
	Name            string
	Replaces        []string
	Unlimited       bool
	Shadow          bool
	Quota           bool
	Sliding         bool
	DetailedMetric  bool
	Metadata        *structpb.Struct
}

// node is a compiled level of a domain's tree.
type node struct {
	children map[string]*node // by "key_value" or "key"
	// wildcards are the children whose value has a *, in file order: the
	// first that matches wins, as in envoyproxy/ratelimit.
	wildcards []wildcard
	rule      *Rule
	// valueToMetric and shared (the wildcard value, for share_threshold)
	// are the descriptor's flags.
	valueToMetric bool
	shared        string
}

type wildcard struct {
	key   string
	parts []string // key split at each *
}

// match reports whether s fits the pattern, each * standing for any run of
// characters, the empty one included.
func (w wildcard) match(s []byte) bool {
	p := w.parts
	if !bytes.HasPrefix(s, []byte(p[0])) {
		return false
	}
	s = s[len(p[0]):]
	last := p[len(p)-1]
	if !bytes.HasSuffix(s, []byte(last)) {
		return false
	}
	s = s[:len(s)-len(last)]
	for _, part := range p[1 : len(p)-1] {
		i := bytes.Index(s, []byte(part))
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return true
}

// Config is every domain, from a directory of files.
type Config struct {
	domains map[string]*node
	// Files are the files it was read from, in order.
	Files []string
}

// LoadOptions are the loader's settings.
type LoadOptions struct {
	// MergeDomains lets several files add to one domain, as
	// envoyproxy/ratelimit's MERGE_DOMAIN_CONFIG; otherwise a second file
	// for a domain is refused.
	MergeDomains bool
}

// LoadDir reads every .yaml and .yml file in dir, one domain each. A file
// with any problem refuses the whole load with file:line:col.
func LoadDir(dir string) (*Config, error) { return LoadOptions{}.LoadDir(dir) }

// LoadDir reads every .yaml and .yml file in dir.
func (o LoadOptions) LoadDir(dir string) (*Config, error) {
	files, err := configFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .yaml files", dir)
	}
	srcs := make([]spec.Source, len(files))
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		srcs[i] = spec.Source{File: f, Data: data}
	}
	return o.Parse(srcs)
}

// configFiles lists dir's .yaml and .yml files, dot files left out, sorted.
func configFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		ext := filepath.Ext(name)
		if e.IsDir() || strings.HasPrefix(name, ".") || ext != ".yaml" && ext != ".yml" {
			continue
		}
		files = append(files, filepath.Join(dir, name))
	}
	sort.Strings(files)
	return files, nil
}

// Parse compiles configuration files.
func Parse(srcs []spec.Source) (*Config, error) { return LoadOptions{}.Parse(srcs) }

// Parse compiles configuration files.
func (o LoadOptions) Parse(srcs []spec.Source) (*Config, error) {
	cfg := &Config{domains: map[string]*node{}}
	var errs spec.ErrorList
	seen := map[string]string{}
	for _, src := range srcs {
		cfg.Files = append(cfg.Files, src.File)
		var f File
		where, err := spec.DecodeDocument(src.File, src.Data, &f)
		if err != nil {
			errs = append(errs, err.(spec.ErrorList)...)
			continue
		}
		add := func(path, format string, args ...any) {
			errs = append(errs, &spec.FieldError{File: src.File, Pos: where(path), Path: path, Msg: fmt.Sprintf(format, args...)})
		}
		if f.Domain == "" {
			add("domain", "required")
			continue
		}
		root := cfg.domains[f.Domain]
		if prev, dup := seen[f.Domain]; dup && !o.MergeDomains {
			add("domain", "domain %q is already defined in %s", f.Domain, prev)
			continue
		}
		if root == nil {
			root = &node{children: map[string]*node{}}
			cfg.domains[f.Domain] = root
			seen[f.Domain] = src.File
		}
		c := compiler{domain: f.Domain, add: add}
		c.compile(root, f.Domain, "descriptors", f.Descriptors)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

type compiler struct {
	domain string
	add    func(path, format string, args ...any)
}

// compile adds ds to n, whose descriptor path is prefix.
func (c compiler) compile(n *node, prefix, path string, ds []Descriptor) {
	for i, d := range ds {
		p := fmt.Sprintf("%s[%d]", path, i)
		if d.Key == "" {
			c.add(p+".key", "required")
			continue
		}
		k := d.Key
		if d.Value != "" {
			k += "_" + d.Value
		}
		if _, dup := n.children[k]; dup {
			c.add(p, "duplicate descriptor %q", k)
			continue
		}
		child := &node{children: map[string]*node{}, valueToMetric: d.ValueToMetric}
		if d.ShareThreshold {
			if !strings.Contains(d.Value, "*") {
				c.add(p+".share_threshold", "needs a value with a * (a wildcard); %q has none", d.Value)
			}
			child.shared = d.Value
		}
		if d.RateLimit != nil {
			child.rule = c.rule(d, prefix+"."+k, p)
		} else {
			c.metadata(d, p)
		}
		c.compile(child, prefix+"."+k, p+".descriptors", d.Descriptors)
		n.children[k] = child
		if strings.Contains(d.Value, "*") {
			n.wildcards = append(n.wildcards, wildcard{key: k, parts: strings.Split(k, "*")})
		}
	}
}

func (c compiler) rule(d Descriptor, key, p string) *Rule {
	l := d.RateLimit
	unit := strings.ToLower(l.Unit)
	window, ok := units[unit]
	switch {
	case l.Unlimited && ok:
		c.add(p+".rate_limit.unit", "an unlimited limit takes no unit (%q)", l.Unit)
	case !ok && !l.Unlimited:
		c.add(p+".rate_limit.unit", "%q is not one of second, minute, hour, day, week, month, year", l.Unit)
	case l.Algorithm != "" && l.Algorithm != "fixed_window" && l.Algorithm != "sliding_window":
		c.add(p+".rate_limit.algorithm", "%q is not fixed_window or sliding_window", l.Algorithm)
	}
	r := &Rule{
		Key: key, Domain: c.domain, Window: window, RequestsPerUnit: l.RequestsPerUnit, Unit: unit,
		Name: l.Name, Unlimited: l.Unlimited, Shadow: d.ShadowMode, Quota: d.QuotaMode,
		Sliding: l.Algorithm == "sliding_window", DetailedMetric: d.DetailedMetric,
	}
	for j, rp := range l.Replaces {
		switch {
		case rp.Name == "":
			c.add(fmt.Sprintf("%s.rate_limit.replaces[%d].name", p, j), "required")
		case rp.Name == l.Name:
			c.add(fmt.Sprintf("%s.rate_limit.replaces[%d].name", p, j), "%q is this limit's own name: it would replace itself", rp.Name)
		}
		r.Replaces = append(r.Replaces, rp.Name)
	}
	r.Metadata = c.metadata(d, p)
	return r
}

// metadata converts a descriptor's metadata to the answer's form.
func (c compiler) metadata(d Descriptor, p string) *structpb.Struct {
	if d.Metadata.IsZero() {
		return nil
	}
	var m map[string]any
	err := d.Metadata.Decode(&m)
	var out *structpb.Struct
	if err == nil {
		out, err = structpb.NewStruct(m)
	}
	if err != nil {
		c.add(p+".metadata", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return out
}

// Entry is one key and value of a request's descriptor.
type Entry struct{ Key, Value string }

// Lookup is what a request descriptor matched.
type Lookup struct {
	Rule *Rule
	// Shared holds, for each entry matched by a share_threshold wildcard,
	// the wildcard value it counts under; nil when there is none.
	Shared []string
	// StatsKey is the key its hits count under in the metrics: the rule's
	// path, or with detailed_metric and value_to_metric the request's values.
	StatsKey string
}

// step is how one entry of a request matched.
type step struct {
	node    *node
	wild    string // the wildcard value that matched, if one did
	byValue bool   // key_value matched, not the bare key
}

// Match finds the limit for a request descriptor in a domain, by
// envoyproxy/ratelimit's rules: at each level key_value first, then the
// first wildcard value that fits, then the key alone; the limit counts only
// where the request's last entry lands. A zero Lookup means not limited.
func (c *Config) Match(domain string, entries []Entry) Lookup {
	n := c.domains[domain]
	if n == nil {
		return Lookup{}
	}
	var out Lookup
	var buf [128]byte
	steps := make([]step, 0, 8)
	flagged := false
	for i, e := range entries {
		full := append(append(append(buf[:0], e.Key...), '_'), e.Value...)
		st := step{node: n.children[string(full)], byValue: true}
		if st.node == nil {
			for _, w := range n.wildcards {
				if w.match(full) {
					st.node = n.children[w.key]
					st.wild = w.key[len(e.Key)+1:]
					break
				}
			}
		}
		if st.node == nil {
			st.node, st.byValue = n.children[e.Key], false
		}
		if st.node == nil {
			break
		}
		steps = append(steps, st)
		if st.wild != "" && st.node.shared != "" {
			if out.Shared == nil {
				out.Shared = make([]string, len(entries))
			}
			out.Shared[i] = st.node.shared
		}
		flagged = flagged || st.node.valueToMetric
		if i == len(entries)-1 {
			out.Rule = st.node.rule
		}
		if len(st.node.children) == 0 {
			break
		}
		n = st.node
	}
	if out.Rule == nil {
		return Lookup{}
	}
	out.StatsKey = out.Rule.Key
	if out.Rule.DetailedMetric || flagged {
		out.StatsKey = statsKey(domain, entries, steps, out)
	}
	return out
}

// statsKey is envoyproxy/ratelimit's metric key for a match whose limit
// has detailed_metric or whose path has value_to_metric.
func statsKey(domain string, entries []Entry, steps []step, l Lookup) string {
	var b strings.Builder
	b.WriteString(domain)
	for i, e := range entries {
		b.WriteByte('.')
		b.WriteString(e.Key)
		value, always := e.Value, false
		switch st := steps[i]; {
		case l.Rule.DetailedMetric && l.Shared != nil:
			if l.Shared[i] != "" {
				value = l.Shared[i]
			}
		case l.Rule.DetailedMetric:
			always = true
		case st.wild != "":
			if st.node.shared != "" || !st.node.valueToMetric {
				value = st.wild
			}
		case !st.byValue && !st.node.valueToMetric:
			value = ""
		}
		if value != "" || always {
			b.WriteByte('_')
			b.WriteString(value)
		}
	}
	return b.String()
}

// Override is the limit a request carries itself (Envoy's rate-limit
// action overrides): it counts as the descriptor's own limit, with no
// shadow mode or replacement, in a domain that is configured. One without
// a unit is not a limit.
func (c *Config) Override(domain string, entries []Entry, requestsPerUnit uint32, unit string) *Rule {
	if c.domains[domain] == nil || units[unit] == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(domain)
	for _, e := range entries {
		b.WriteByte('.')
		b.WriteString(e.Key)
		if e.Value != "" {
			b.WriteByte('_')
			b.WriteString(e.Value)
		}
	}
	return &Rule{Key: b.String(), Domain: domain, Window: units[unit], RequestsPerUnit: requestsPerUnit, Unit: unit}
}

// Domains lists the configured domains.
func (c *Config) Domains() []string {
	out := make([]string, 0, len(c.domains))
	for d := range c.domains {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}
