// Package prometheus is the analysis provider that runs PromQL against a
// Prometheus server.
package prometheus
