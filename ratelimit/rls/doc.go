// Package rls is the global rate-limit service: envoyproxy/ratelimit's
// configuration format and matching rules, its algorithms on Redis, and
// Envoy's RateLimitService gRPC API.
package rls
