package gateway

import (
	"net/http"
	"net/netip"
	"strings"
)

// trustedProxies decides whose X-Forwarded-For to believe.
type trustedProxies []netip.Prefix

func (tp trustedProxies) trusts(a netip.Addr) bool {
	for _, p := range tp {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the client's address: the peer, unless the peer is a trusted
// proxy, in which case X-Forwarded-For is walked from the right past every
// trusted hop. An untrusted peer's X-Forwarded-For is never believed.
func (tp trustedProxies) clientIP(r inbound) string {
	peer, host := r.Peer()
	if !peer.IsValid() || len(tp) == 0 || !tp.trusts(peer.Unmap()) {
		return host
	}
	hops := r.HeaderValues("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return host // a malformed hop: stop believing the header
			}
			if !tp.trusts(a.Unmap()) {
				return a.String()
			}
		}
	}
	return host
}

// trustsPeer reports whether the request's peer is a trusted proxy.
func (tp trustedProxies) trustsPeer(r inbound) bool {
	if len(tp) == 0 {
		return false
	}
	peer := r.PeerAddr()
	return peer.IsValid() && tp.trusts(peer.Unmap())
}

// ownHeaders makes the headers the gateway owns its own: from a peer that
// is not a trusted proxy, X-Forwarded-*, Forwarded and X-Real-IP are
// removed (the gateway sets them again) and X-Request-Id is replaced unless
// preserveID. A trusted proxy's are kept.
func ownHeaders(r *http.Request, trusted, preserveID bool) {
	if !trusted {
		for name := range r.Header {
			if strings.HasPrefix(name, "X-Forwarded-") || name == "Forwarded" || name == "X-Real-Ip" {
				delete(r.Header, name)
			}
		}
		if !preserveID {
			r.Header.Set("X-Request-Id", newRequestID())
			return
		}
	}
	if r.Header.Get("X-Request-Id") == "" {
		r.Header.Set("X-Request-Id", newRequestID())
	}
}
