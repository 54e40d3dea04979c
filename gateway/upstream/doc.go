// Package upstream is where a request leaves the gateway: backends and
// their endpoints, active health checks, passive ejection (Envoy's outlier
// detection), circuit breakers, and the clients that speak to upstreams.
package upstream
