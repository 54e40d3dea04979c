package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
)

func TestRoutingFirstMatchWins(t *testing.T) {
	names := []string{"exact", "prefix", "regex", "method", "header-exact", "header-prefix", "header-regex", "header-present", "query", "host", "wildcard", "and", "catchall"}
	backends := ""
	urls := map[string]string{}
	for _, n := range names {
		b := newBackend(t, n, nil)
		urls[n] = b.URL
		backends += fmt.Sprintf("  - name: %s\n    endpoints: [%s]\n", n, b.URL)
	}
	cfg := config("  backends:\n" + backends + `  routes:
  - name: exact
    match: [{path: {exact: /exact}}]
    backends: [{name: exact}]
  - name: and
    match: [{path: {prefix: /and}, method: POST, headers: [{name: x-a, exact: "1"}]}]
    backends: [{name: and}]
  - name: prefix
    match: [{path: {prefix: /api/}}, {path: {exact: /api}}]
    backends: [{name: prefix}]
  - name: regex
    match: [{path: {regex: '/users/[0-9]+'}}]
    backends: [{name: regex}]
  - name: method
    match: [{method: DELETE}]
    backends: [{name: method}]
  - name: header-exact
    match: [{headers: [{name: X-Canary, exact: always}]}]
    backends: [{name: header-exact}]
  - name: header-prefix
    match: [{headers: [{name: user-agent, prefix: "Mobile"}]}]
    backends: [{name: header-prefix}]
  - name: header-regex
    match: [{headers: [{name: x-user, regex: 'u[0-9]{3}'}]}]
    backends: [{name: header-regex}]
  - name: header-present
    match: [{headers: [{name: x-debug, present: true}]}]
    backends: [{name: header-present}]
  - name: query
    match: [{queryParams: [{name: preview, exact: "new"}]}]
    backends: [{name: query}]
  - name: host
    hosts: [app.green.example.com]
    backends: [{name: host}]
  - name: wildcard
    hosts: ["*.blue.example.com"]
    backends: [{name: wildcard}]
  - name: catchall
    backends: [{name: catchall}]
`)
	h := startGateway(t, cfg)
	tests := []struct {
		desc   string
		method string
		path   string
		hdr    []string
		want   string
	}{
		{desc: "exact path", path: "/exact", want: "exact"},
		{desc: "exact path does not match a longer one", path: "/exact/more", want: "catchall"},
		{desc: "prefix", path: "/api/orders", want: "prefix"},
		{desc: "second match entry is OR'd", path: "/api", want: "prefix"},
		{desc: "prefix is not a substring match", path: "/apix", want: "catchall"},
		{desc: "regex matches the whole path", path: "/users/42", want: "regex"},
		{desc: "regex anchored at the end", path: "/users/42/edit", want: "catchall"},
		{desc: "method", method: http.MethodDelete, path: "/anything", want: "method"},
		{desc: "earlier route wins over method", method: http.MethodDelete, path: "/exact", want: "exact"},
		{desc: "header exact", path: "/", hdr: []string{"X-Canary", "always"}, want: "header-exact"},
		{desc: "header exact is case sensitive in value", path: "/", hdr: []string{"X-Canary", "Always"}, want: "catchall"},
		{desc: "header prefix", path: "/", hdr: []string{"User-Agent", "Mobile Safari"}, want: "header-prefix"},
		{desc: "header regex", path: "/", hdr: []string{"X-User", "u123"}, want: "header-regex"},
		{desc: "header regex is anchored", path: "/", hdr: []string{"X-User", "u1234"}, want: "catchall"},
		{desc: "header present with empty value", path: "/", hdr: []string{"X-Debug", ""}, want: "header-present"},
		{desc: "query exact", path: "/?preview=new", want: "query"},
		{desc: "query other value", path: "/?preview=old", want: "catchall"},
		{desc: "host exact, with port", path: "/", hdr: []string{"Host", "app.green.example.com:8080"}, want: "host"},
		{desc: "host case-insensitive", path: "/", hdr: []string{"Host", "APP.Green.example.com"}, want: "host"},
		{desc: "wildcard host", path: "/", hdr: []string{"Host", "app.blue.example.com"}, want: "wildcard"},
		{desc: "wildcard needs a label", path: "/", hdr: []string{"Host", "blue.example.com"}, want: "catchall"},
		{desc: "AND of path, method and header", method: http.MethodPost, path: "/and/x", hdr: []string{"X-A", "1"}, want: "and"},
		{desc: "AND fails on one part", method: http.MethodPost, path: "/and/x", hdr: []string{"X-A", "2"}, want: "catchall"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, h.url+tc.path, nil)
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				if tc.hdr[i] == "Host" {
					req.Host = tc.hdr[i+1]
				} else {
					req.Header[http.CanonicalHeaderKey(tc.hdr[i])] = []string{tc.hdr[i+1]}
				}
			}
			resp, err := h.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("X-Backend"); got != tc.want || resp.StatusCode != 200 {
				t.Errorf("%s %s: answered by %q (%d), want %q", method, tc.path, got, resp.StatusCode, tc.want)
			}
		})
	}
}

func TestNoRouteIs404WithReason(t *testing.T) {
	b := newBackend(t, "only", nil)
	h := startGateway(t, config(fmt.Sprintf(`  backends:
  - name: only
    endpoints: [%s]
  routes:
  - name: only
    match: [{path: {prefix: /only}}]
    backends: [{name: only}]
`, b.URL)))
	resp, err := h.client.Get(h.url + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("X-Cutover-Reason") != "no-route" {
		t.Fatalf("got %d %q, want 404 no-route", resp.StatusCode, resp.Header.Get("X-Cutover-Reason"))
	}
}
