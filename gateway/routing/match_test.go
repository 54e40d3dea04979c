package routing

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cutover-dev/cutover/spec"
)

// FuzzStringMatch checks the compiled matchers against their definitions:
// exact is equality, prefix is strings.HasPrefix, and regex must match the
// whole value.
func FuzzStringMatch(f *testing.F) {
	f.Add("/api/v1", "/api", "/api/v[0-9]+")
	f.Add("", "", "")
	f.Add("/users/42/edit", "/users/", "/users/[0-9]+")
	f.Add("aaa", "a", "a|aa|aaa")
	f.Add("ab", "a", "a|ab")
	f.Fuzz(func(t *testing.T, value, lit, expr string) {
		exact := CompileString(spec.StringMatch{Exact: &lit})
		if exact.Match(value) != (value == lit) {
			t.Fatalf("exact %q on %q", lit, value)
		}
		prefix := CompileString(spec.StringMatch{Prefix: &lit})
		if prefix.Match(value) != strings.HasPrefix(value, lit) {
			t.Fatalf("prefix %q on %q", lit, value)
		}
		ref, err := regexp.Compile(expr)
		if err != nil {
			return
		}
		ref.Longest()
		loc := ref.FindStringIndex(value)
		whole := loc != nil && loc[0] == 0 && loc[1] == len(value)
		re := CompileString(spec.StringMatch{Regex: &expr})
		if re.Match(value) != whole {
			t.Fatalf("regex %q on %q: matched %v, whole-string match %v", expr, value, re.Match(value), whole)
		}
	})
}

// FuzzRequestMatch feeds odd requests through a table of every kind of
// match; none may panic, and a header match must agree with the header.
func FuzzRequestMatch(f *testing.F) {
	f.Add("/a/b", "GET", "x-user", "u1", "q=1&q=2", "Example.COM:80")
	f.Add("", "", "", "", "%zz", "")
	f.Fuzz(func(t *testing.T, path, method, hname, hval, rawQuery, host string) {
		re := `u[0-9]+`
		m := Compile(spec.Match{
			Path:        &spec.StringMatch{Regex: &re},
			Headers:     []spec.KeyMatch{{Name: "x-user", StringMatch: spec.StringMatch{Regex: &re}}},
			QueryParams: []spec.KeyMatch{{Name: "q", Present: true}},
		})
		r := &http.Request{Method: method, URL: &url.URL{Path: path, RawQuery: rawQuery}, Header: http.Header{}, Host: host}
		if hname != "" {
			r.Header[http.CanonicalHeaderKey(hname)] = []string{hval}
		}
		var q url.Values
		got := m.Match(HTTP(r), &q)
		want := regexp.MustCompile(`^(?:`+re+`)$`).MatchString(path) &&
			http.CanonicalHeaderKey(hname) == "X-User" && regexp.MustCompile(`^(?:`+re+`)$`).MatchString(hval) &&
			r.URL.Query().Has("q")
		if got != want {
			t.Fatalf("match %v, want %v for %+v", got, want, r)
		}
		Host(r)
	})
}
