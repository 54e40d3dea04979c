// Package ratelimit holds the gateway's local limiters: Envoy's token
// bucket and nginx's leaky bucket (limit_req), per key, in a bounded table.
package ratelimit
