#!/usr/bin/env bash
# Fetches the dashboard's browser libraries from the npm registry at pinned
# versions into ui/assets/vendor, where they are checked in and embedded in
# the binary (nothing is fetched at run time). The package tarball must
# match npm's recorded integrity, and the files the checksums in
# ui/assets/vendor/SHA256SUMS.
#
#   bash ui/fetch-assets.sh           # fetch, verify, and write SHA256SUMS
#   bash ui/fetch-assets.sh --check   # verify the checked-in files only
set -euo pipefail
cd "$(dirname "$0")/assets/vendor"

UPLOT_VERSION=1.6.32
UPLOT_INTEGRITY=sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==

if [ "${1:-}" = --check ]; then
  sha256sum --quiet -c SHA256SUMS
  exit
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$UPLOT_VERSION" >/dev/null)
tarball="$tmp/uplot-$UPLOT_VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$got" != "$UPLOT_INTEGRITY" ]; then
  echo "uplot@$UPLOT_VERSION: integrity $got, want $UPLOT_INTEGRITY" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$tmp"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" .
cp "$tmp/package/LICENSE" uPlot.LICENSE
sha256sum uPlot.iife.min.js uPlot.min.css uPlot.LICENSE > SHA256SUMS
echo "uplot@$UPLOT_VERSION in $(pwd)"
