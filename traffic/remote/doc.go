// Package remote is the traffic.Router that drives other `cutover serve`
// replicas through their admin APIs, so that a plan can move several
// gateways behind a layer-4 load balancer in step.
package remote
