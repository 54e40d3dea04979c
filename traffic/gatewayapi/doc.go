// Package gatewayapi is the traffic.Router for the Gateway API: it sets
// backendRefs weights on an HTTPRoute's rules, adds header-match rules and
// RequestMirror rules, and verifies weights by reading them back. Like the
// Istio router it patches only what the plan manages.
package gatewayapi
