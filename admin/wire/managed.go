package wire

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cutover-dev/cutover/spec"
)

// ManagedRoute is a route that a plan puts in front of one of the config's
// routes, such as a header route that sends "x-preview: new" to the canary
// whatever the weights say. It inherits the parent's hosts and timeout.
type ManagedRoute struct {
	Name    string       `json:"name"`
	Match   []spec.Match `json:"match"`
	Backend string       `json:"backend"`
	// MirrorPercent, when set, makes it a mirror route: what matches is
	// served as by the parent, and that share of it is copied to Backend.
	MirrorPercent int `json:"mirrorPercent,omitempty"`
}

// String is the route as a user writes it: "preview: x-preview=new to new",
// "shadow: 10% of GET /api* copied to new".
func (mr ManagedRoute) String() string {
	var alts []string
	for _, m := range mr.Match {
		alts = append(alts, describeMatch(m))
	}
	what := strings.Join(alts, " or ")
	if what == "" {
		what = "every request"
	}
	if mr.MirrorPercent > 0 {
		return fmt.Sprintf("%s: %d%% of %s copied to %s", mr.Name, mr.MirrorPercent, what, mr.Backend)
	}
	return fmt.Sprintf("%s: %s to %s", mr.Name, what, mr.Backend)
}

func describeMatch(m spec.Match) string {
	var parts []string
	if m.Method != "" {
		parts = append(parts, m.Method)
	}
	if m.Path != nil {
		parts = append(parts, describeString("", m.Path))
	}
	for _, h := range m.Headers {
		parts = append(parts, describeKey(h))
	}
	for _, q := range m.QueryParams {
		parts = append(parts, "?"+describeKey(q))
	}
	return strings.Join(parts, " ")
}

func describeKey(k spec.KeyMatch) string {
	if k.Present && k.Exact == nil && k.Prefix == nil && k.Regex == nil {
		return k.Name + " present"
	}
	return describeString(k.Name+"=", &k.StringMatch)
}

func describeString(prefix string, s *spec.StringMatch) string {
	switch {
	case s.Exact != nil:
		return prefix + *s.Exact
	case s.Prefix != nil:
		return prefix + *s.Prefix + "*"
	case s.Regex != nil:
		return prefix + "~" + *s.Regex
	}
	return prefix
}

// HeaderRoute is the gateway route that serves a setHeaderRoute step: what
// matches goes to backend. A step without matches gives a route without
// matches, which removes it.
func HeaderRoute(hr *spec.SetHeaderRoute, backend string) ManagedRoute {
	mr := ManagedRoute{Name: hr.Name, Backend: backend}
	if len(hr.Match) > 0 {
		var m spec.Match
		for _, hm := range hr.Match {
			if hm.HeaderName != "" {
				m.Headers = append(m.Headers, spec.KeyMatch{Name: hm.HeaderName, StringMatch: *hm.HeaderValue})
			} else {
				m.QueryParams = append(m.QueryParams, spec.KeyMatch{Name: hm.QueryParamName, StringMatch: *hm.QueryParamValue})
			}
		}
		// Argo ANDs the matches of one header route.
		mr.Match = []spec.Match{m}
	}
	return mr
}

// MirrorRoute is the gateway route that serves a setMirrorRoute step: what
// matches is served as before and a share of it copied to backend. A step
// without matches removes it.
func MirrorRoute(mr *spec.SetMirrorRoute, backend string) ManagedRoute {
	out := ManagedRoute{Name: mr.Name, Backend: backend, MirrorPercent: 100}
	if mr.Percentage != nil {
		out.MirrorPercent = *mr.Percentage
	}
	for _, m := range mr.Match {
		var g spec.Match
		if m.Path != nil {
			p := *m.Path
			g.Path = &p
		}
		if m.Method != nil && m.Method.Exact != nil {
			g.Method = *m.Method.Exact
		}
		for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
			g.Headers = append(g.Headers, spec.KeyMatch{Name: name, StringMatch: m.Headers[name]})
		}
		out.Match = append(out.Match, g)
	}
	return out
}
