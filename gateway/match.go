// Package gateway is the data plane of `cutover serve`: it compiles a spec
// into an immutable routing table, chooses a backend and an endpoint for each
// request, proxies it, and keeps endpoint health.
package gateway

import (
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/cutover-dev/cutover/spec"
)

// stringMatcher is one compiled exact, prefix or regex match.
type stringMatcher struct {
	exact, prefix *string
	regex         *regexp.Regexp
}

func compileStringMatch(m spec.StringMatch) stringMatcher {
	sm := stringMatcher{exact: m.Exact, prefix: m.Prefix}
	if m.Regex != nil {
		// Anchored, as Istio and Envoy match the whole value.
		sm.regex = regexp.MustCompile(`^(?:` + *m.Regex + `)$`)
	}
	return sm
}

func (m *stringMatcher) match(s string) bool {
	switch {
	case m.exact != nil:
		return s == *m.exact
	case m.prefix != nil:
		return strings.HasPrefix(s, *m.prefix)
	case m.regex != nil:
		return m.regex.MatchString(s)
	}
	return true
}

type keyMatcher struct {
	name    string
	present bool
	value   stringMatcher
}

// requestMatcher is one compiled spec.Match: all of its parts must hold.
type requestMatcher struct {
	path    *stringMatcher
	method  string
	headers []keyMatcher
	query   []keyMatcher
}

func compileMatch(m spec.Match) requestMatcher {
	rm := requestMatcher{method: m.Method}
	if m.Path != nil {
		pm := compileStringMatch(*m.Path)
		rm.path = &pm
	}
	for _, h := range m.Headers {
		rm.headers = append(rm.headers, keyMatcher{
			name:    textproto.CanonicalMIMEHeaderKey(h.Name),
			present: h.Present,
			value:   compileStringMatch(h.StringMatch),
		})
	}
	for _, q := range m.QueryParams {
		rm.query = append(rm.query, keyMatcher{name: q.Name, present: q.Present, value: compileStringMatch(q.StringMatch)})
	}
	return rm
}

func (m *requestMatcher) match(r *http.Request, query *url.Values) bool {
	if m.method != "" && r.Method != m.method {
		return false
	}
	if m.path != nil && !m.path.match(r.URL.Path) {
		return false
	}
	for i := range m.headers {
		h := &m.headers[i]
		vals, ok := r.Header[h.name]
		if !ok {
			return false
		}
		if !h.present && !anyMatch(&h.value, vals) {
			return false
		}
	}
	if len(m.query) > 0 && *query == nil {
		*query = r.URL.Query()
	}
	for i := range m.query {
		q := &m.query[i]
		vals, ok := (*query)[q.name]
		if !ok {
			return false
		}
		if !q.present && !anyMatch(&q.value, vals) {
			return false
		}
	}
	return true
}

func anyMatch(m *stringMatcher, vals []string) bool {
	for _, v := range vals {
		if m.match(v) {
			return true
		}
	}
	return false
}

// requestHost is the request's host, lower-case and without a port.
func requestHost(r *http.Request) string {
	h := r.Host
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// takes reports whether the route takes r. host is requestHost(r).
func (rt *route) takes(r *http.Request, host string, query *url.Values) bool {
	if len(rt.hosts) > 0 {
		ok := false
		for _, h := range rt.hosts {
			if spec.HostMatches(h, host) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(rt.matches) == 0 {
		return true
	}
	for i := range rt.matches {
		if rt.matches[i].match(r, query) {
			return true
		}
	}
	return false
}

// Route returns the first route that matches r, or nil.
func (t *Table) Route(r *http.Request) *route {
	host := requestHost(r)
	var query url.Values
	for _, rt := range t.routes {
		if rt.takes(r, host, &query) {
			return rt
		}
	}
	return nil
}

// filterUpgrade removes from an Upgrade header the protocols the route does
// not allow, with their Connection tokens, so that a backend's 101 cannot
// turn the connection into a tunnel that skips routing, limits and logs
// ("h2c smuggling").
func (rt *route) filterUpgrade(h http.Header) {
	var kept []string
	for _, v := range h.Values("Upgrade") {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			name, _, _ := strings.Cut(p, "/")
			if slices.ContainsFunc(rt.upgrades, func(u string) bool { return strings.EqualFold(u, name) }) {
				kept = append(kept, p)
			}
		}
	}
	if len(kept) > 0 {
		h.Set("Upgrade", strings.Join(kept, ", "))
		return
	}
	h.Del("Upgrade")
	h.Del("Http2-Settings")
	var conn []string
	for _, v := range h.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			tok = strings.TrimSpace(tok)
			if tok != "" && !strings.EqualFold(tok, "upgrade") && !strings.EqualFold(tok, "http2-settings") {
				conn = append(conn, tok)
			}
		}
	}
	if len(conn) > 0 {
		h.Set("Connection", strings.Join(conn, ", "))
	} else {
		h.Del("Connection")
	}
}
