// Package traffic is the boundary between the rollout engine and whatever
// moves the traffic: the embedded gateway, Istio or the Gateway API. Its
// interface follows Argo Rollouts' TrafficRoutingReconciler.
package traffic
