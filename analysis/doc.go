// Package analysis measures a canary while a plan runs: Argo Rollouts'
// metrics (interval, count, conditions, limits) over providers, plus the
// comparative judges of package stats. It knows nothing of HTTP; providers
// that do I/O live behind the Provider interface.
package analysis
