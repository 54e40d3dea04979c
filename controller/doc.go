// Package controller runs cutover plans on Kubernetes: one rollout engine
// per Cutover resource, its state in the resource's status, and Istio or
// the Gateway API moving the traffic.
package controller
