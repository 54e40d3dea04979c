// Package stats holds the comparative judges of rollout analysis: a
// sequential test of error rates and a rank test of latencies. It does no
// I/O; callers pass counts and samples.
package stats
