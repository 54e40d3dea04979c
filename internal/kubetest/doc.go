// Package kubetest starts a real kube-apiserver and etcd through envtest,
// with custom resource definitions read from their projects' Go modules.
// The binaries are built from the Go module proxy by hack/envtest-assets.sh
// into a cache directory; .ci/run builds them and sets
// CUTOVER_ENVTEST_ASSETS. Without them a test skips (fails under CI).
package kubetest
