// Package routing is where a request is routed: routes' matches, the
// split of a route's traffic over its backends (weights after health, the
// smooth schedule) and sticky buckets. It is pure: no sockets, no clocks.
package routing
