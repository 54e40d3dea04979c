package convert_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/cutover-dev/cutover/convert"
	"github.com/cutover-dev/cutover/internal/testenv"
	"github.com/cutover-dev/cutover/spec"
)

// argoModule is the Argo Rollouts release whose examples and documentation
// the corpus is read from (its Go module, from the module cache).
const argoModule = "github.com/argoproj/argo-rollouts@v1.9.0"

type corpusDoc struct {
	where string // file, or file#block for documentation
	kind  string
	name  string
	node  *yaml.Node
	text  string
}

// argoCorpus is every Rollout, AnalysisTemplate and ClusterAnalysisTemplate
// in argo-rollouts' examples/ and in the YAML blocks of its docs/features/,
// each once.
func argoCorpus(t *testing.T) []corpusDoc {
	root := testenv.ModuleDir(t, argoModule)
	block := regexp.MustCompile("(?s)```ya?ml\\s*\\n(.*?)```")
	var out []corpusDoc
	seen := map[string]bool{}
	add := func(where string, data []byte) {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Logf("%s: not YAML (%v)", where, err)
				}
				return
			}
			if len(doc.Content) == 0 {
				continue
			}
			n := doc.Content[0]
			kind := value(n, "kind")
			if kind != "Rollout" && kind != "AnalysisTemplate" && kind != "ClusterAnalysisTemplate" {
				continue
			}
			text, _ := yaml.Marshal(n)
			if seen[string(text)] {
				continue
			}
			seen[string(text)] = true
			out = append(out, corpusDoc{where: where, kind: kind, name: value(child(n, "metadata"), "name"), node: n, text: string(text)})
		}
	}
	for _, dir := range []string{"examples", "docs/features", "test/e2e"} {
		filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			data, _ := readFile(path)
			switch filepath.Ext(path) {
			case ".yaml", ".yml":
				add(rel, data)
			case ".md":
				for i, m := range block.FindAllSubmatch(data, -1) {
					add(fmt.Sprintf("%s#%d", rel, i+1), m[1])
				}
			}
			return nil
		})
	}
	return out
}

// TestArgoCorpus converts every Rollout and template of Argo's own files
// and validates the result, as a team bringing them would: each Rollout
// with the templates it names, each template on its own.
func TestArgoCorpus(t *testing.T) {
	docs := argoCorpus(t)
	templates := map[string]corpusDoc{} // the first of each name
	for _, d := range docs {
		if d.kind != "Rollout" {
			if _, ok := templates[d.name]; !ok {
				templates[d.name] = d
			}
		}
	}
	type tally struct{ accepted, warned, refused int }
	// A reading is the documents as one binary reads them: the standalone
	// gateway, or cutover-kube, which runs the job provider and valueFrom
	// that the gateway refuses.
	type reading struct {
		where   string
		opts    spec.ParseOptions
		counts  map[string]*tally
		reasons map[string]int
	}
	standalone := &reading{where: "standalone", counts: map[string]*tally{}, reasons: map[string]int{}}
	kube := &reading{where: "on Kubernetes", opts: spec.ParseOptions{Kubernetes: true}, counts: map[string]*tally{}, reasons: map[string]int{}}
	readings := []*reading{standalone, kube}
	for _, d := range docs {
		set := d.kind
		if set != "Rollout" {
			set = "template"
		} else if child(child(child(d.node, "spec"), "strategy"), "blueGreen") != nil {
			set = "blueGreen Rollout"
		} else {
			set = "canary Rollout"
		}
		for _, r := range readings {
			if r.counts[set] == nil {
				r.counts[set] = &tally{}
			}
		}
		input := d.text
		if d.kind == "Rollout" {
			named := map[string]bool{}
			for _, name := range templateRefs(d.node) {
				if at, ok := templates[name]; ok && !named[name] {
					named[name] = true
					input += "---\n" + at.text
				}
			}
		}
		out, _, err := convert.Argo([]spec.Source{{File: d.where, Data: []byte(input)}})
		if err != nil {
			reason := "convert: " + regexp.MustCompile(`^\S+: Rollout \S+ `).ReplaceAllString(err.Error(), "")
			for _, r := range readings {
				r.counts[set].refused++
				r.reasons[reason]++
			}
			continue
		}
		if d.kind != "Rollout" {
			out = append([]byte(templateGateway), out...)
		}
		for _, r := range readings {
			cfg, err := spec.ParseSourcesWith([]spec.Source{{File: "converted.yaml", Data: out}}, r.opts)
			var list spec.ErrorList
			switch {
			case errors.As(err, &list):
				r.counts[set].refused++
				for _, reason := range uniqueReasons(list) {
					r.reasons[reason]++
				}
				t.Logf("refused %s: %s %s (%s): %v", r.where, d.kind, d.name, d.where, err)
			case err != nil:
				t.Fatalf("%s %s: %v", d.where, r.where, err)
			case len(cfg.Warnings) > 0:
				r.counts[set].warned++
			default:
				r.counts[set].accepted++
			}
		}
	}
	for _, r := range readings {
		var table []string
		for _, set := range []string{"canary Rollout", "blueGreen Rollout", "template"} {
			c := r.counts[set]
			table = append(table, fmt.Sprintf("%-18s accepted %3d  warned %3d  refused %3d", set, c.accepted, c.warned, c.refused))
		}
		var rs []string
		for reason, n := range r.reasons {
			rs = append(rs, fmt.Sprintf("%3d  %s", n, reason))
		}
		sort.Sort(sort.Reverse(sort.StringSlice(rs)))
		t.Logf("Argo Rollouts %s, %d documents, %s:\n%s\nrefusals by reason:\n%s", argoModule, len(docs), r.where, strings.Join(table, "\n"), strings.Join(rs, "\n"))
	}

	// What is refused is refused for a reason cutover gives on purpose.
	for reason := range standalone.reasons {
		if strings.Contains(reason, "unknown field") {
			t.Errorf("refused for a field nobody looked at: %s", reason)
		}
	}
	// On Kubernetes the job provider and values from Secrets and fields
	// are cutover-kube's to run: what is left is plugins, a ReplicaSet's
	// pod-template hash, placeholders, and what Argo refuses too.
	for reason := range kube.reasons {
		if strings.Contains(reason, "provider.job") || strings.Contains(reason, "valueFrom:") || strings.Contains(reason, "needs argument") || strings.Contains(reason, "unknown field") {
			t.Errorf("refused on Kubernetes: %s", reason)
		}
	}
	// Standalone, the refusals left are also the job provider (a
	// Kubernetes Job) and values from Kubernetes (valueFrom).
	want := map[*reading]map[string]tally{
		standalone: {
			"canary Rollout":    {accepted: 8, warned: 63, refused: 21},
			"blueGreen Rollout": {accepted: 0, warned: 5, refused: 1},
			"template":          {accepted: 6, warned: 0, refused: 20},
		},
		kube: {
			"canary Rollout":    {accepted: 8, warned: 73, refused: 11},
			"blueGreen Rollout": {accepted: 0, warned: 5, refused: 1},
			"template":          {accepted: 25, warned: 0, refused: 1},
		},
	}
	for r, sets := range want {
		for set, w := range sets {
			if got := *r.counts[set]; got != w {
				t.Errorf("%s %s: %+v, want %+v", set, r.where, got, w)
			}
		}
	}
}

// templateGateway is the config a converted template joins.
const templateGateway = `apiVersion: cutover.dev/v1alpha1
kind: Gateway
metadata: {name: t}
spec:
  listeners: [{address: ":8080"}]
  backends: [{name: app, endpoints: ["http://app:80"]}]
  routes: [{name: app, backends: [{name: app}]}]
---
`

// uniqueReasons are an error list's messages with names and numbers taken
// out, so that the same cause counts once per document.
func uniqueReasons(list spec.ErrorList) []string {
	seen := map[string]bool{}
	var out []string
	idx := regexp.MustCompile(`\[\d+\]`)
	quoted := regexp.MustCompile(`"[^"]*"`)
	for _, e := range list {
		r := idx.ReplaceAllString(e.Path, "[]") + ": " + quoted.ReplaceAllString(e.Msg, `"…"`)
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// templateRefs are the template names a Rollout's analyses give.
func templateRefs(n *yaml.Node) []string {
	var out []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil {
			return
		}
		if n.Kind == yaml.MappingNode {
			if ts := child(n, "templates"); ts != nil && ts.Kind == yaml.SequenceNode {
				for _, ref := range ts.Content {
					if name := value(ref, "templateName"); name != "" {
						out = append(out, name)
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(child(child(n, "spec"), "strategy"))
	return out
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func value(n *yaml.Node, key string) string {
	if c := child(n, key); c != nil && c.Kind == yaml.ScalarNode {
		return c.Value
	}
	return ""
}

var readFile = os.ReadFile
