#!/usr/bin/env bash
# Builds the kube-apiserver and etcd binaries that envtest runs, from the Go
# module proxy, in throwaway modules outside the project's go.mod, into a cache
# directory. Prints the directory. Idempotent: a second run only checks.
#
#   CUTOVER_ENVTEST_ASSETS=$(bash hack/envtest-assets.sh)
set -euo pipefail

k8s_version=1.37.2
etcd_version=3.6.16
dir=${CUTOVER_ENVTEST_ASSETS:-${XDG_CACHE_HOME:-$HOME/.cache}/cutover/envtest/k8s-$k8s_version-etcd-$etcd_version}
mkdir -p "$dir"

build() { # name module package
  local name=$1 require=$2 pkg=$3 replaces=$4
  [ -x "$dir/$name" ] && return 0
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  (
    cd "$work"
    cat >go.mod <<MOD
module envtestassets

go 1.26

require $require
$replaces
MOD
    cat >tools.go <<GO
//go:build tools

package envtestassets

import _ "$pkg"
GO
    GOFLAGS=-mod=mod go mod tidy >&2
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$dir/$name.tmp" "$pkg" >&2
    mv "$dir/$name.tmp" "$dir/$name"
  )
}

staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller streaming"
replaces=""
for m in $staging; do
  replaces+="replace k8s.io/$m => k8s.io/$m v0.${k8s_version#1.}"$'\n'
done

build kube-apiserver "k8s.io/kubernetes v$k8s_version" k8s.io/kubernetes/cmd/kube-apiserver "$replaces"
build etcd "go.etcd.io/etcd/server/v3 v$etcd_version" go.etcd.io/etcd/server/v3 ""

echo "$dir"
