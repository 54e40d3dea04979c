package rls

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cutover-dev/cutover/internal/testenv"
	"github.com/cutover-dev/cutover/spec"
)

// PeerModule is the envoyproxy/ratelimit version whose test fixtures the
// compatibility tests load, from the module cache.
const PeerModule = "github.com/envoyproxy/ratelimit@v1.4.1-0.20260122083618-3fb702589d36"

func peerFixtures(t *testing.T, names ...string) []spec.Source {
	t.Helper()
	dir := filepath.Join(testenv.ModuleDir(t, PeerModule), "test", "config")
	var out []spec.Source
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, spec.Source{File: n, Data: data})
	}
	return out
}

// lookup describes what a descriptor matched the way the peer's tests
// look at it: limit, unit, stats key, and the shared wildcard values.
func lookup(cfg *Config, domain string, entries []Entry) string {
	l := cfg.Match(domain, entries)
	if l.Rule == nil {
		return "none"
	}
	s := fmt.Sprintf("%d/%s %s", l.Rule.RequestsPerUnit, l.Rule.Unit, l.StatsKey)
	if l.Rule.Unlimited {
		s = "unlimited " + l.StatsKey
	}
	if l.Rule.Shadow {
		s += " shadow"
	}
	if l.Shared != nil {
		s += " shared=" + strings.Join(l.Shared, ",")
	}
	return s
}

// The lookups of envoyproxy/ratelimit's own config tests, on its fixture
// files: limit, unit and the key its stats count under.
func TestPeerConfigFixtures(t *testing.T) {
	tests := []struct {
		files   []string
		merge   bool
		entries []Entry
		want    string
	}{
		{[]string{"basic_config.yaml"}, false, e("key1", "something"), "none"},
		{[]string{"basic_config.yaml"}, false, e("key1", "value1"), "none"},
		{[]string{"basic_config.yaml"}, false, e("key2", "value2", "subkey", "subvalue"), "none"},
		{[]string{"basic_config.yaml"}, false, e("key5", "value5", "subkey5", "subvalue"), "none"},
		{[]string{"basic_config.yaml"}, false, e("key1", "value1", "subkey1", "something"), "5/second test-domain.key1_value1.subkey1"},
		{[]string{"basic_config.yaml"}, false, e("key1", "value1", "subkey1", "subvalue1"), "10/second test-domain.key1_value1.subkey1_subvalue1"},
		{[]string{"basic_config.yaml"}, false, e("key2", "something"), "20/minute test-domain.key2"},
		{[]string{"basic_config.yaml"}, false, e("key2", "value2"), "30/minute test-domain.key2_value2"},
		{[]string{"basic_config.yaml"}, false, e("key2", "value3"), "none"},
		{[]string{"basic_config.yaml"}, false, e("key3", "foo"), "1/hour test-domain.key3"},
		{[]string{"basic_config.yaml"}, false, e("key4", "foo"), "1/day test-domain.key4"},
		{[]string{"basic_config.yaml"}, false, e("key6", "foo"), "unlimited test-domain.key6"},
		{[]string{"basic_config.yaml"}, false, e("key7", "unspecified_value"), "70/minute test-domain.key7_unspecified_value"},
		{[]string{"basic_config.yaml"}, false, e("key7", "another_value"), "70/minute test-domain.key7_another_value"},
		{[]string{"merge_domain_key1.yaml", "merge_domain_key2.yaml"}, true, e("key1", "value1"), "10/minute test-domain.key1_value1"},
		{[]string{"merge_domain_key1.yaml", "merge_domain_key2.yaml"}, true, e("key2", "value2"), "20/minute test-domain.key2_value2"},
		{[]string{"shadowmode_config.yaml"}, false, e("key1", "value1", "subkey1", "something"), "5/second test-domain.key1_value1.subkey1"},
		{[]string{"shadowmode_config.yaml"}, false, e("key1", "value1", "subkey1", "subvalue1"), "10/second test-domain.key1_value1.subkey1_subvalue1 shadow"},
		{[]string{"shadowmode_config.yaml"}, false, e("key2", "something"), "20/minute test-domain.key2 shadow"},
		{[]string{"shadowmode_config.yaml"}, false, e("key2", "value2"), "30/minute test-domain.key2_value2"},
		{[]string{"wildcard.yaml"}, false, e("noVal", "foo1"), "20/minute test-domain.noVal"},
		{[]string{"wildcard.yaml"}, false, e("wild", "foo1"), "20/minute test-domain.wild_foo*"},
		{[]string{"wildcard.yaml"}, false, e("wild", "foo2"), "20/minute test-domain.wild_foo*"},
		{[]string{"wildcard.yaml"}, false, e("nestedWild", "val1", "wild", "goo2"), "20/minute test-domain.nestedWild_val1.wild_goo*"},
		{[]string{"wildcard.yaml"}, false, e("wild", "bar"), "none"},
		{[]string{"wildcard.yaml"}, false, e("noWild", "foo1"), "none"},
		// The peer's current head matches a * anywhere in the value.
		{[]string{"wildcard.yaml"}, false, e("midWild", "barab"), "20/minute test-domain.midWild_bar*b"},
		{[]string{"wildcard.yaml"}, false, e("midWild", "bar123b"), "20/minute test-domain.midWild_bar*b"},
		{[]string{"wildcard.yaml"}, false, e("midWild", "barb"), "20/minute test-domain.midWild_bar*b"},
		{[]string{"wildcard.yaml"}, false, e("midWild", "bar"), "none"},
		{[]string{"wildcard.yaml"}, false, e("midWild", "barbc"), "none"},
		{[]string{"share_threshold.yaml"}, false, e("files", "files/a.txt"), "100/minute test-domain.files_files/* shared=files/*"},
		{[]string{"share_threshold.yaml"}, false, e("route", "api/v1", "method", "GET"), "60/minute test-domain.route_api/*.method shared=api/*,"},
		{[]string{"share_threshold.yaml"}, false, e("service", "svc/user", "endpoint", "get"), "80/minute test-domain.service_svc/*.endpoint_get shared=svc/*,"},
		{[]string{"share_threshold.yaml"}, false, e("nested", "parent", "files", "nested/file1.txt"), "200/minute test-domain.nested_parent.files_nested/* shared=,nested/*"},
		{[]string{"share_threshold.yaml"}, false, e("files", "top/file1.txt", "files", "nested/file1.txt"), "300/minute test-domain.files_top/*.files_nested/* shared=top/*,nested/*"},
		{[]string{"share_threshold.yaml"}, false, e("path", "path/foo", "file", "file/doc1", "type", "pdf"), "120/minute test-domain.path_path/*.file_file/*.type shared=path/*,,"},
		{[]string{"share_threshold.yaml"}, false, e("user", "user/alice", "resource", "res/file1", "action", "read"), "150/minute test-domain.user_user/*.resource_res/*.action shared=user/*,res/*,"},
		{[]string{"share_threshold.yaml"}, false, e("file", "test1"), "50/minute test-domain.file_test1"},
		{[]string{"share_threshold.yaml"}, false, e("file", "test2"), "100/minute test-domain.file_test* shared=test*"},
	}
	for _, tc := range tests {
		cfg, err := LoadOptions{MergeDomains: tc.merge}.Parse(peerFixtures(t, tc.files...))
		if err != nil {
			t.Fatalf("%v: %v", tc.files, err)
		}
		if got := lookup(cfg, "test-domain", tc.entries); got != tc.want {
			t.Errorf("%v %v: %s, want %s", tc.files, tc.entries, got, tc.want)
		}
	}
}

// The peer's fixtures that it refuses are refused here too, each with the
// file, line and column and the field at fault.
func TestPeerBadFixturesAreRefused(t *testing.T) {
	tests := []struct {
		files []string
		merge bool
		want  string
	}{
		{[]string{"bad_limit_unit.yaml"}, false, `bad_limit_unit.yaml:6:7: descriptors[0].rate_limit.unit: "foo" is not one of`},
		{[]string{"bad_yaml.yaml"}, false, "bad_yaml.yaml:"},
		{[]string{"basic_config.yaml", "duplicate_domain.yaml"}, false, `duplicate_domain.yaml:1:1: domain: domain "test-domain" is already defined in basic_config.yaml`},
		{[]string{"duplicate_key.yaml"}, false, `duplicate_key.yaml:6:5: descriptors[1]: duplicate descriptor "key1_value1"`},
		{[]string{"empty_domain.yaml"}, false, "empty_domain.yaml:1:1: domain: required"},
		{[]string{"empty_key.yaml"}, false, "empty_key.yaml:3:5: descriptors[0].key: required"},
		{[]string{"misspelled_key.yaml"}, false, `misspelled_key.yaml:5:5: descriptors[0].ratelimit: unknown field "ratelimit"`},
		{[]string{"misspelled_key2.yaml"}, false, `misspelled_key2.yaml:7:7: descriptors[0].rate_limit.requestsperunit: unknown field "requestsperunit"`},
		{[]string{"non_map_list.yaml"}, false, "non_map_list.yaml:3:5: descriptors[0]: must be a mapping"},
		{[]string{"non_string_key.yaml"}, false, `non_string_key.yaml:1:1: 0.25: unknown field "0.25"`},
		{[]string{"replaces_empty.yaml"}, false, "replaces_empty.yaml:10:15: descriptors[0].descriptors[0].rate_limit.replaces[0].name: required"},
		{[]string{"replaces_self.yaml"}, false, `replaces_self.yaml:10:15: descriptors[0].descriptors[0].rate_limit.replaces[0].name: "self" is this limit's own name`},
		{[]string{"unlimited_with_unit.yaml"}, false, `unlimited_with_unit.yaml:6:7: descriptors[0].rate_limit.unit: an unlimited limit takes no unit`},
		{[]string{"merge_domain_key1.yaml", "merge_domain_key1.yaml"}, true, `merge_domain_key1.yaml:5:5: descriptors[0]: duplicate descriptor "key1_value1"`},
	}
	for _, tc := range tests {
		_, err := LoadOptions{MergeDomains: tc.merge}.Parse(peerFixtures(t, tc.files...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %s", tc.files, err, tc.want)
		}
	}
}

// Every fixture of the peer's config directory is either loaded or refused
// with a position: none is taken silently with a different meaning, and
// the service does not stop on the ones it loads (share_threshold.yaml
// used to be refused as an unknown field).
func TestPeerFixtureDirectory(t *testing.T) {
	dir := filepath.Join(testenv.ModuleDir(t, PeerModule), "test", "config")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) < 15 {
		t.Fatalf("%d fixtures, %v", len(files), err)
	}
	refused := map[string]bool{
		"bad_limit_unit.yaml": true, "bad_yaml.yaml": true, "empty_domain.yaml": true, "empty_key.yaml": true,
		"duplicate_key.yaml": true, "misspelled_key.yaml": true, "misspelled_key2.yaml": true,
		"non_map_list.yaml": true, "non_string_key.yaml": true, "replaces_empty.yaml": true,
		"replaces_self.yaml": true, "unlimited_with_unit.yaml": true,
	}
	pos := regexp.MustCompile(`^\S+\.yaml:\d+:\d+: `)
	for _, f := range files {
		_, err := Parse(peerFixtures(t, filepath.Base(f)))
		switch name := filepath.Base(f); {
		case refused[name] && err == nil:
			t.Errorf("%s loaded; the peer refuses it", name)
		case refused[name] && !pos.MatchString(err.Error()):
			t.Errorf("%s: %v, want file:line:col", name, err)
		case !refused[name] && err != nil:
			t.Errorf("%s: %v; the peer loads it", name, err)
		}
	}
}

// Wildcards anywhere in the value, as the peer's head matches them, and
// the first matching wildcard in file order wins.
func TestWildcardsAnywhere(t *testing.T) {
	cfg, err := Parse([]spec.Source{{File: "w.yaml", Data: []byte(`domain: d
descriptors:
  - key: k
    value: foo*bar*baz
    rate_limit: {unit: minute, requests_per_unit: 1}
  - key: k
    value: foo*
    rate_limit: {unit: minute, requests_per_unit: 2}
  - key: k
    value: "*.png"
    rate_limit: {unit: minute, requests_per_unit: 3}
  - key: s
    value: a*
    share_threshold: true
    metadata: {tier: {name: gold}, n: 3}
    rate_limit: {unit: minute, requests_per_unit: 4}
`)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ value, want string }{
		{"foobarbaz", "1/minute d.k_foo*bar*baz"},
		{"foo-bar-x-baz", "1/minute d.k_foo*bar*baz"},
		{"foobazbar", "2/minute d.k_foo*"},
		{"foo", "2/minute d.k_foo*"},
		{"icon.png", "3/minute d.k_*.png"},
		{"foo.png", "2/minute d.k_foo*"},
		{"icon.gif", "none"},
	} {
		if got := lookup(cfg, "d", e("k", tc.value)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.value, got, tc.want)
		}
	}
	r := cfg.Match("d", e("s", "abc")).Rule
	if got := r.Metadata.AsMap(); fmt.Sprint(got) != "map[n:3 tier:map[name:gold]]" {
		t.Errorf("metadata %v", got)
	}
	for _, bad := range []struct{ src, want string }{
		{"domain: d\ndescriptors:\n  - key: k\n    value: plain\n    share_threshold: true\n", "b.yaml:5:5: descriptors[0].share_threshold: needs a value with a *"},
		{"domain: d\ndescriptors:\n  - key: k\n    metadata: [1, 2]\n", "b.yaml:4:5: descriptors[0].metadata:"},
	} {
		_, err := Parse([]spec.Source{{File: "b.yaml", Data: []byte(bad.src)}})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %s", bad.src, err, bad.want)
		}
	}
}

// value_to_metric puts the request's value into the stats key where the
// path matched a wildcard or a bare key; detailed_metric puts every value.
func TestValueToMetricStatsKeys(t *testing.T) {
	cfg, err := Parse([]spec.Source{{File: "v.yaml", Data: []byte(`domain: d
descriptors:
  - key: route
    value_to_metric: true
    descriptors:
      - key: http_method
        value_to_metric: true
        descriptors:
          - key: subject_id
            rate_limit: {unit: minute, requests_per_unit: 60}
  - key: action
    value: read*
    value_to_metric: true
    rate_limit: {unit: minute, requests_per_unit: 5}
  - key: plain
    rate_limit: {unit: minute, requests_per_unit: 7}
  - key: detailed
    value_to_metric: true
    detailed_metric: true
    descriptors:
      - key: user
        detailed_metric: true
        rate_limit: {unit: minute, requests_per_unit: 9}
`)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		entries []Entry
		want    string
	}{
		{e("route", "draw", "http_method", "GET", "subject_id", "123"), "60/minute d.route_draw.http_method_GET.subject_id"},
		{e("action", "readfile"), "5/minute d.action_readfile"},
		{e("plain", "x"), "7/minute d.plain"},
		{e("detailed", "a", "user", "bob"), "9/minute d.detailed_a.user_bob"},
	} {
		if got := lookup(cfg, "d", tc.entries); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.entries, got, tc.want)
		}
	}
}
