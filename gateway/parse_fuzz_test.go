package gateway

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/cutover-dev/cutover/spec"
)

// FuzzClientIP feeds X-Forwarded-For headers and peers to the client-IP
// logic: it never panics, and it answers the peer or an address that the
// header names, never anything else.
func FuzzClientIP(f *testing.F) {
	f.Add("203.0.113.1, 10.0.0.2", "10.0.0.1:1234")
	f.Add("garbage, ,,", "10.0.0.1:1")
	f.Add("::ffff:10.0.0.9, 2001:db8::1", "[::1]:80")
	f.Add("", "not-an-address")
	tp := trustedProxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, xff, remote string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		got := tp.clientIP(httpIn{r})
		peer := remote
		if i := strings.LastIndex(remote, ":"); i >= 0 {
			peer = strings.Trim(remote[:i], "[]")
		}
		if got == peer || got == remote {
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil || !strings.Contains(xff, strings.TrimPrefix(got, "::ffff:")) && !containsAddr(xff, a) {
			t.Fatalf("client %q from XFF %q and peer %q", got, xff, remote)
		}
		if tp.trusts(a.Unmap()) {
			t.Fatalf("a trusted proxy %q was taken for the client", got)
		}
	})
}

func containsAddr(xff string, a netip.Addr) bool {
	for _, p := range strings.Split(xff, ",") {
		if b, err := netip.ParseAddr(strings.TrimSpace(p)); err == nil && b == a {
			return true
		}
	}
	return false
}

// FuzzRateLimitKey checks the descriptor extraction: a path capture is a
// substring of the path, a header key is the header's value.
func FuzzRateLimitKey(f *testing.F) {
	f.Add("/users/ann/orders", "ann")
	f.Add("/", "")
	f.Add("/users//x", "\x00")
	m := newMetrics()
	byPath := compileRateLimit("r", &spec.RateLimit{Name: "p", Key: spec.RateLimitKey{PathRegex: `^/users/([^/]*)`}}, nil, m)
	byHeader := compileRateLimit("r", &spec.RateLimit{Name: "h", Key: spec.RateLimitKey{Header: "X-User"}}, nil, m)
	f.Fuzz(func(t *testing.T, path, header string) {
		r := &http.Request{URL: &url.URL{Path: path}, Header: http.Header{"X-User": {header}}}
		if k, ok := byPath.key(httpIn{r}, nil); ok && !strings.HasPrefix(path, "/users/"+k) {
			t.Fatalf("path %q gave key %q", path, k)
		}
		k, ok := byHeader.key(httpIn{r}, nil)
		if ok != (header != "") || ok && k != header {
			t.Fatalf("header %q gave key %q, %v", header, k, ok)
		}
	})
}
