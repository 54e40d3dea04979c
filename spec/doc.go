// Package spec is the declarative model of cutover.yaml: typed documents,
// their defaults and their validation. It does no network I/O.
//
// The plan types (Strategy and what it holds, Notification) are also the
// Cutover resource's in api/v1alpha1, so they carry json tags and the
// resource's schema markers, and have deepcopy functions.
package spec

//go:generate go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0 object paths=.
