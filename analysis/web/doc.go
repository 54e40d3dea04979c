// Package web is Argo Rollouts' web analysis provider: an HTTP request
// whose JSON answer, at a JSONPath, is the metric's result.
package web
