// Package manifest generates Kubernetes manifests for many services and
// environments from small per-service config files, in the layers of the
// handbook's generator (§5.1): User Config (package config), Kubernetes
// types (k8s.io/api, istio.io/client-go, package argo), Templates and
// Definitions (package templates), then Resources, Factory and Writer here.
//
// Output is deterministic: the same config gives the same bytes.
package manifest
