// Package datadog is Argo Rollouts' datadog analysis provider: a metric
// query to Datadog's API, v1 (timeseries) or v2 (scalar).
package datadog
