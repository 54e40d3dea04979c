#!/usr/bin/env bash
# The highest rate each load generator sustains against the same trivial
# server (bench/backend) on loopback, in one run: wrk, vegeta's own CLI
# (go install'ed from the module proxy into a cache, skipped with a note
# when that fails) and `cutover load --rate max`, each with 64 requests in
# flight for $DURATION (5s). Prints requests/s and the ratio to wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5s}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
command -v wrk >/dev/null 2>&1 || apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
go build -o "$WORK/cutover" ./cmd/cutover
go build -o "$WORK/backend" ./bench/backend
VEGETA_VERSION=v12.13.0
vegeta=${XDG_CACHE_HOME:-$HOME/.cache}/cutover/bench/vegeta-$VEGETA_VERSION/vegeta
[ -x "$vegeta" ] || GOBIN=$(dirname "$vegeta") go install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION" >"$WORK/vegeta-build.log" 2>&1 || true
"$WORK/backend" -addr 127.0.0.1:19401 -name load &
for _ in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:19401/ 2>/dev/null && break; sleep 0.1; done
url=http://127.0.0.1:19401/

wrk_rps=$(wrk -t2 -c64 -d"$DURATION" "$url" | awk '/Requests\/sec/ {printf "%.0f", $2}')
echo "wrk -t2 -c64: $wrk_rps requests/s"
if [ -x "$vegeta" ]; then
  v=$(echo "GET $url" | "$vegeta" attack -rate=0 -max-workers=64 -workers=64 -duration="$DURATION" | "$vegeta" report -type=json)
  v_rps=$(sed -n 's/.*"throughput":\([0-9.]*\).*/\1/p' <<<"$v" | awk '{printf "%.0f", $1}')
  echo "vegeta attack -rate=0 -max-workers=64: $v_rps requests/s ($(awk -v a="$v_rps" -v b="$wrk_rps" 'BEGIN {printf "%.2f", a/b}') × wrk)"
else
  echo "note: vegeta $VEGETA_VERSION could not be built (see go install); not measured"
fi
c=$("$WORK/cutover" load --target "$url" --rate max --workers 64 --duration "$DURATION" 2>/dev/null)
c_rps=$(awk '/Requests/ {gsub(",", "", $0); print $NF; exit}' <<<"$c" | awk '{printf "%.0f", $1}')
echo "cutover load --rate max --workers 64: $c_rps requests/s ($(awk -v a="$c_rps" -v b="$wrk_rps" 'BEGIN {printf "%.2f", a/b}') × wrk)"
