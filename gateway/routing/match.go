package routing

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

// StringMatcher is one compiled exact, prefix or regex match.
type StringMatcher struct {
	exact, prefix *string
	regex         *regexp.Regexp
}

// CompileString compiles a spec.StringMatch.
func CompileString(m spec.StringMatch) StringMatcher {
	sm := StringMatcher{exact: m.Exact, prefix: m.Prefix}
	if m.Regex != nil {
		// Anchored, as Istio and Envoy match the whole value.
		sm.regex = regexp.MustCompile(`^(?:` + *m.Regex + `)$`)
	}
	return sm
}

// Match reports whether s matches; an empty matcher matches anything.
func (m *StringMatcher) Match(s string) bool {
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

// KeyMatcher matches a header or query parameter by name: present, or
// with a value that matches.
type KeyMatcher struct {
	Name    string
	Present bool
	Value   StringMatcher
}

// RequestMatcher is one compiled spec.Match: all of its parts must hold.
type RequestMatcher struct {
	path    *StringMatcher
	method  string
	headers []KeyMatcher
	query   []KeyMatcher
}

// Compile compiles a spec.Match.
func Compile(m spec.Match) RequestMatcher {
	rm := RequestMatcher{method: m.Method}
	if m.Path != nil {
		pm := CompileString(*m.Path)
		rm.path = &pm
	}
	for _, h := range m.Headers {
		rm.headers = append(rm.headers, KeyMatcher{
			Name:    textproto.CanonicalMIMEHeaderKey(h.Name),
			Present: h.Present,
			Value:   CompileString(h.StringMatch),
		})
	}
	for _, q := range m.QueryParams {
		rm.query = append(rm.query, KeyMatcher{Name: q.Name, Present: q.Present, Value: CompileString(q.StringMatch)})
	}
	return rm
}

// Request is what matching reads of a request, on either of the gateway's
// servers: net/http's (HTTP wraps its requests) or the fast one.
type Request interface {
	Method() string
	Path() string
	// HeaderValues are the values of a header by its canonical name, nil
	// when it is absent.
	HeaderValues(name string) []string
	RawQuery() string
}

// HTTP is a net/http request as a Request.
// A struct of one pointer goes into an interface without an allocation.
func HTTP(r *http.Request) Request { return httpRequest{r} }

type httpRequest struct{ r *http.Request }

func (r httpRequest) Method() string                    { return r.r.Method }
func (r httpRequest) Path() string                      { return r.r.URL.Path }
func (r httpRequest) HeaderValues(name string) []string { return r.r.Header[name] }
func (r httpRequest) RawQuery() string                  { return r.r.URL.RawQuery }

// Match reports whether r matches; query is r's parsed query, filled in
// the first time a matcher needs it.
func (m *RequestMatcher) Match(r Request, query *url.Values) bool {
	if m.method != "" && r.Method() != m.method {
		return false
	}
	if m.path != nil && !m.path.Match(r.Path()) {
		return false
	}
	for i := range m.headers {
		h := &m.headers[i]
		vals := r.HeaderValues(h.Name)
		if vals == nil {
			return false
		}
		if !h.Present && !anyMatch(&h.Value, vals) {
			return false
		}
	}
	if len(m.query) > 0 && *query == nil {
		*query, _ = url.ParseQuery(r.RawQuery())
	}
	for i := range m.query {
		q := &m.query[i]
		vals, ok := (*query)[q.Name]
		if !ok {
			return false
		}
		if !q.Present && !anyMatch(&q.Value, vals) {
			return false
		}
	}
	return true
}

func anyMatch(m *StringMatcher, vals []string) bool {
	for _, v := range vals {
		if m.Match(v) {
			return true
		}
	}
	return false
}

// Host is a request's host, lower-case and without a port.
func Host(r *http.Request) string { return HostOf(r.Host) }

// HostOf is the host of a Host header, lower-case and without a port.
func HostOf(h string) string {
	// The port, if any, cut as net.SplitHostPort would, without its error
	// allocation for the usual host with no port.
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.LastIndexByte(h, ']') < i {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// Matcher is a route's hosts and alternative request matches.
type Matcher struct {
	hosts   []string
	matches []RequestMatcher
}

// NewMatcher compiles a route's hosts and matches.
func NewMatcher(hosts []string, matches []spec.Match) Matcher {
	m := Matcher{hosts: hosts}
	for _, sm := range matches {
		m.matches = append(m.matches, Compile(sm))
	}
	return m
}

// Takes reports whether the route takes r: a host matches (or there are
// none) and one of the matches holds (or there are none). host is Host(r).
func (m *Matcher) Takes(r Request, host string, query *url.Values) bool {
	if len(m.hosts) > 0 && !slices.ContainsFunc(m.hosts, func(h string) bool { return spec.HostMatches(h, host) }) {
		return false
	}
	if len(m.matches) == 0 {
		return true
	}
	for i := range m.matches {
		if m.matches[i].Match(r, query) {
			return true
		}
	}
	return false
}
