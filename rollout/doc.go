// Package rollout runs plans: Argo Rollouts' canary steps as a persisted
// state machine that drives a traffic.Router and judges the canary with
// package analysis. It knows nothing of HTTP.
package rollout
