// Package gateway is the data plane of `cutover serve`: it compiles a spec
// into an immutable routing table, chooses a backend and an endpoint for each
// request, proxies it, and keeps endpoint health.
package gateway
