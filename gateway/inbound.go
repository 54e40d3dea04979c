package gateway

import (
	"net"
	"net/http"
	"net/netip"

	"github.com/cutover-dev/cutover/gateway/routing"
)

// inbound is what the gateway reads of a client's request, on either of its
// servers: net/http's (httpIn) or the fast one for cleartext HTTP/1.1
// (fastIn). Routing, limits, stickiness and the access log read a request
// only through it, so that both servers decide alike.
type inbound interface {
	routing.Request
	// Header is a header's first value by its canonical name, "" when
	// absent. Like Cookie and Host, it may view the request's buffer:
	// valid while the request is served; what outlives it is copied.
	Header(name string) string
	// Cookie is the value of the named cookie.
	Cookie(name string) (string, bool)
	Host() string
	Proto() string
	// Peer is the address the connection comes from, without its port.
	Peer() (netip.Addr, string)
	// PeerAddr is Peer's address alone.
	PeerAddr() netip.Addr
}

// httpIn is a net/http request as an inbound; one pointer, so it goes
// into the interface without an allocation.
type httpIn struct{ r *http.Request }

func (in httpIn) Method() string                    { return in.r.Method }
func (in httpIn) Path() string                      { return in.r.URL.Path }
func (in httpIn) HeaderValues(name string) []string { return in.r.Header[name] }
func (in httpIn) RawQuery() string                  { return in.r.URL.RawQuery }
func (in httpIn) Header(name string) string         { return in.r.Header.Get(name) }
func (in httpIn) Host() string                      { return in.r.Host }
func (in httpIn) Proto() string                     { return in.r.Proto }

func (in httpIn) Cookie(name string) (string, bool) {
	c, err := in.r.Cookie(name)
	if err != nil {
		return "", false
	}
	return c.Value, true
}

func (in httpIn) PeerAddr() netip.Addr { a, _ := in.Peer(); return a }

func (in httpIn) Peer() (netip.Addr, string) {
	host, _, err := net.SplitHostPort(in.r.RemoteAddr)
	if err != nil {
		host = in.r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a, host
}
