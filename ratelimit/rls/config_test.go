package rls

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cutover-dev/cutover/spec"
)

func e(kv ...string) []Entry {
	var out []Entry
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, Entry{kv[i], kv[i+1]})
	}
	return out
}

func describe(r *Rule) string {
	if r == nil {
		return "none"
	}
	s := fmt.Sprintf("%s %d/%s", r.Key, r.RequestsPerUnit, r.Unit)
	if r.Unlimited {
		s = r.Key + " unlimited"
	}
	if r.Shadow {
		s += " shadow"
	}
	if r.Name != "" {
		s += " name=" + r.Name
	}
	if len(r.Replaces) > 0 {
		s += " replaces=" + strings.Join(r.Replaces, ",")
	}
	return s
}

// The answers envoyproxy/ratelimit's README gives for its examples.
func TestReadmeExamples(t *testing.T) {
	cfg, err := LoadDir("testdata/readme")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		domain  string
		entries []Entry
		want    string
	}{
		{"mongo_cps", e("database", "users"), "mongo_cps.database_users 500/second"},
		{"mongo_cps", e("database", "default"), "mongo_cps.database_default 500/second"},
		{"mongo_cps", e("database", "other"), "none"},
		{"messaging", e("message_type", "marketing", "to_number", "2061111111"), "messaging.message_type_marketing.to_number 5/day"},
		{"messaging", e("to_number", "2061111111"), "messaging.to_number 100/day"},
		{"messaging", e("message_type", "marketing"), "none"}, // a placeholder without a limit
		{"edge_proxy_per_ip", e("remote_address", "50.0.0.1"), "edge_proxy_per_ip.remote_address 10/second"},
		{"edge_proxy_per_ip", e("remote_address", "50.0.0.5"), "edge_proxy_per_ip.remote_address_50.0.0.5 0/second"},
		{"example4", e("key", "value", "subkey", "subvalue"), "example4.key_value.subkey 300/second"},
		{"example4", e("key", "value"), "none"},
		{"internal", e("ldap", "x"), "internal.ldap unlimited"},
		{"internal", e("azure", "x"), "internal.azure 100/minute"},
		{"example6", e("service", "auth-service", "user", "user-a"), "example6.service.user_user-a 10/second shadow"},
		{"example6", e("service", "auth-service", "user", "user-b"), "example6.service.user_user-b 20/second"},
		{"example7", e("key_1", "value_1", "user", "bkthomps"), "example7.key_1_value_1.user_bkthomps 5/second name=specific_limit"},
		{"example7", e("key_2", "value_2", "user", "bkthomps"), "example7.key_2_value_2.user_bkthomps 10/second replaces=specific_limit"},
		{"example8", e("key1", "unspecified_value"), "example8.key1 10/minute"},
		{"example8", e("key1", "value1"), "example8.key1_value1 20/minute"},
		{"example9", e("key1", "value_1"), "example9.key1_value* 20/minute"},
		{"example9", e("key1", "other"), "none"},
		{"unknown", e("a", "b"), "none"},
	}
	for _, tc := range tests {
		if got := describe(cfg.Match(tc.domain, tc.entries).Rule); got != tc.want {
			t.Errorf("%s %v: %s, want %s", tc.domain, tc.entries, got, tc.want)
		}
	}
}

// Example 4's first configuration: a request deeper than the config does
// not match.
func TestRequestDeeperThanConfig(t *testing.T) {
	cfg, err := Parse([]spec.Source{{File: "4a.yaml", Data: []byte(`domain: example4
descriptors:
  - key: key
    value: value
    rate_limit:
      requests_per_unit: 300
      unit: second
`)}})
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Match("example4", e("key", "value", "subkey", "subvalue")).Rule; r != nil {
		t.Fatalf("matched %s", describe(r))
	}
	if r := cfg.Match("example4", e("key", "value")).Rule; r == nil {
		t.Fatal("the one-level request did not match")
	}
}

func TestBadFilesNamePositions(t *testing.T) {
	tests := []struct{ src, want string }{
		{"domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: fortnight, requests_per_unit: 1}\n", "bad.yaml:4:18: descriptors[0].rate_limit.unit: \"fortnight\" is not one of second, minute, hour, day, week, month, year"},
		{"domain: d\ndescriptors:\n  - key: a\n    rate_limt: {unit: second}\n", "bad.yaml:4:5: descriptors[0].rate_limt: unknown field \"rate_limt\""},
		{"descriptors: []\n", "bad.yaml:1:1: domain: required"},
		{"domain: d\ndescriptors:\n  - key: a\n  - key: a\n", "bad.yaml:4:5: descriptors[1]: duplicate descriptor \"a\""},
		{"domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: second, requests_per_unit: 1, algorithm: gcra}\n", "descriptors[0].rate_limit.algorithm: \"gcra\" is not fixed_window or sliding_window"},
	}
	for _, tc := range tests {
		_, err := Parse([]spec.Source{{File: "bad.yaml", Data: []byte(tc.src)}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %s", tc.src, err, tc.want)
		}
	}
}
