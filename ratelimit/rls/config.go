package rls

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cutover-dev/cutover/spec"
)

// File is one envoyproxy/ratelimit configuration file: a domain and its
// descriptor tree. Files written for envoyproxy/ratelimit load unchanged.
type File struct {
	Domain      string       `yaml:"domain"`
	Descriptors []Descriptor `yaml:"descriptors"`
}

// Descriptor is one node of the tree: a key, an optional value (a trailing
// * makes it a prefix), an optional limit, and children.
type Descriptor struct {
	Key            string       `yaml:"key"`
	Value          string       `yaml:"value"`
	RateLimit      *Limit       `yaml:"rate_limit"`
	Descriptors    []Descriptor `yaml:"descriptors"`
	ShadowMode     bool         `yaml:"shadow_mode"`
	DetailedMetric bool         `yaml:"detailed_metric"`
}

// Limit is a descriptor's limit.
type Limit struct {
	Unit string `yaml:"unit"`
	// RequestsPerUnit 0 refuses everything (a block list).
	RequestsPerUnit uint32    `yaml:"requests_per_unit"`
	Name            string    `yaml:"name"`
	Replaces        []Replace `yaml:"replaces"`
	Unlimited       bool      `yaml:"unlimited"`
	// Algorithm is fixed_window (envoyproxy/ratelimit's, the default) or
	// sliding_window, which has no 2x burst at window edges.
	Algorithm string `yaml:"algorithm"`
}

// Replace names a limit that a matching limit overrides.
type Replace struct {
	Name string `yaml:"name"`
}

var units = map[string]time.Duration{
	"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour,
}

// Rule is a compiled limit.
type Rule struct {
	// Key identifies the limit's counters: domain and descriptor path.
	Key             string
	Window          time.Duration
	RequestsPerUnit uint32
	Unit            string
	Name            string
	Replaces        []string
	Unlimited       bool
	Shadow          bool
	Sliding         bool
	DetailedMetric  bool
}

// node is a compiled level of a domain's tree.
type node struct {
	children map[string]*node // by "key_value" or "key"
	wildcard []string         // "key_valueprefix*" children, longest first
	rule     *Rule
}

// Config is every domain, from a directory of files.
type Config struct {
	domains map[string]*node
	// Files are the files it was read from, in order.
	Files []string
}

// LoadDir reads every .yaml and .yml file in dir, one domain each. A file
// with any problem refuses the whole load with file:line:col.
func LoadDir(dir string) (*Config, error) {
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		files = append(files, m...)
	}
	sort.Strings(files)
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
	return Parse(srcs)
}

// Parse compiles configuration files.
func Parse(srcs []spec.Source) (*Config, error) {
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
		if prev, dup := seen[f.Domain]; dup {
			add("domain", "domain %q is already defined in %s", f.Domain, prev)
			continue
		}
		seen[f.Domain] = src.File
		cfg.domains[f.Domain] = compile(f.Domain, "descriptors", f.Descriptors, add)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

func compile(prefix, path string, ds []Descriptor, add func(string, string, ...any)) *node {
	n := &node{children: map[string]*node{}}
	for i, d := range ds {
		p := fmt.Sprintf("%s[%d]", path, i)
		if d.Key == "" {
			add(p+".key", "required")
			continue
		}
		k := d.Key
		if d.Value != "" {
			k += "_" + d.Value
		}
		if _, dup := n.children[k]; dup {
			add(p, "duplicate descriptor %q", k)
			continue
		}
		child := compile(prefix+"."+k, p+".descriptors", d.Descriptors, add)
		if l := d.RateLimit; l != nil {
			window, ok := units[l.Unit]
			switch {
			case !ok && !l.Unlimited:
				add(p+".rate_limit.unit", "%q is not one of second, minute, hour, day", l.Unit)
			case l.Algorithm != "" && l.Algorithm != "fixed_window" && l.Algorithm != "sliding_window":
				add(p+".rate_limit.algorithm", "%q is not fixed_window or sliding_window", l.Algorithm)
			}
			r := &Rule{
				Key: prefix + "." + k, Window: window, RequestsPerUnit: l.RequestsPerUnit, Unit: l.Unit,
				Name: l.Name, Unlimited: l.Unlimited, Shadow: d.ShadowMode, Sliding: l.Algorithm == "sliding_window",
				DetailedMetric: d.DetailedMetric,
			}
			for _, rp := range l.Replaces {
				r.Replaces = append(r.Replaces, rp.Name)
			}
			child.rule = r
		}
		n.children[k] = child
		if strings.HasSuffix(d.Value, "*") {
			n.wildcard = append(n.wildcard, k)
		}
	}
	sort.Slice(n.wildcard, func(i, j int) bool { return len(n.wildcard[i]) > len(n.wildcard[j]) })
	return n
}

// Entry is one key and value of a request's descriptor.
type Entry struct{ Key, Value string }

// Match finds the limit for a request descriptor in a domain, by
// envoyproxy/ratelimit's rules: at each level key_value first, then a
// wildcard value, then the key alone; the limit counts only where the
// request's last entry lands. nil means not limited.
func (c *Config) Match(domain string, entries []Entry) *Rule {
	n := c.domains[domain]
	if n == nil {
		return nil
	}
	var rule *Rule
	for i, e := range entries {
		full := e.Key + "_" + e.Value
		next := n.children[full]
		if next == nil {
			for _, w := range n.wildcard {
				if strings.HasPrefix(full, strings.TrimSuffix(w, "*")) {
					next = n.children[w]
					break
				}
			}
		}
		if next == nil {
			next = n.children[e.Key]
		}
		if next == nil {
			return nil
		}
		if i == len(entries)-1 {
			rule = next.rule
		}
		if len(next.children) == 0 {
			break
		}
		n = next
	}
	return rule
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
