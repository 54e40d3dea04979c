// Package gateway is the data plane of `cutover serve`: it compiles a spec
// into an immutable routing table, chooses a backend and an endpoint for each
// request, proxies it, and keeps endpoint health.
//
// Two servers share those decisions: net/http's (proxy.go, for TLS and
// HTTP/2 listeners, `server: standard`, and what the other hands over) and
// the fast one on fasthttp for cleartext HTTP/1.1 listeners (fastserver.go).
// Both read a request through inbound and forward it through forward.
package gateway
