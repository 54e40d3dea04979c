// Package global is the gateway's side of global rate limits: the
// descriptors Envoy's rate-limit actions make of a request, and the call
// to a RateLimitService (cutover ratelimit serve, envoyproxy/ratelimit)
// over Envoy's RLS protocol, failing open unless failureModeDeny.
package global
