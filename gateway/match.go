package gateway

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/cutover-dev/cutover/gateway/routing"
)

// Route returns the first route that matches r, or nil.
func (t *Table) Route(r *http.Request) *route {
	return t.routeFor(routing.HTTP(r), routing.Host(r))
}

// routeFor returns the first route that takes r, whose host is host
// (routing.HostOf), or nil.
func (t *Table) routeFor(r routing.Request, host string) *route {
	var query url.Values
	for _, rt := range t.routes {
		if rt.matcher.Takes(r, host, &query) {
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
