// Package load is the load analysis provider: a load test as a step of a
// plan, its rate, latencies and errors given to the metric's conditions.
package load
