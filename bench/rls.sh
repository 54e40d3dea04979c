#!/usr/bin/env bash
# One measurement of `cutover ratelimit serve`: a fresh redis-server, the
# service with any extra flags given, bench/rlsclient for $DURATION (10s),
# and the CPU each of the three spent per decision (the client's from
# getrusage, the others' from /proc).
#   bash bench/rls.sh                              # defaults
#   bash bench/rls.sh --redis-pipeline-window 0    # compare a flag
# CUTOVER=path uses a given binary instead of building this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
if [ -z "${CUTOVER:-}" ]; then
  go build -o "$WORK/cutover" ./cmd/cutover
  CUTOVER=$WORK/cutover
fi
go build -o "$WORK/rlsclient" ./bench/rlsclient
mkdir "$WORK/rls"
printf 'domain: bench\ndescriptors:\n  - key: user\n    rate_limit: {unit: second, requests_per_unit: 1000000000}\n' >"$WORK/rls/bench.yaml"

redis-server --port 16410 --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 &
redis_pid=$!
"$CUTOVER" ratelimit serve --config-dir "$WORK/rls" --redis 127.0.0.1:16410 --grpc 127.0.0.1:18211 --http 127.0.0.1:18210 --log-level warn "$@" &
service_pid=$!
for _ in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:18210/readyz 2>/dev/null && break; sleep 0.1; done
"$WORK/rlsclient" -addr 127.0.0.1:18211 -duration 2s >/dev/null # warm up

# cpu PID: user+system clock ticks so far.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
s0=$(cpu $service_pid) r0=$(cpu $redis_pid)
out=$("$WORK/rlsclient" -addr 127.0.0.1:18211 -duration "$DURATION")
s1=$(cpu $service_pid) r1=$(cpu $redis_pid)
awk -v out="$out" -v d="${DURATION%s}" -v s=$((s1 - s0)) -v r=$((r1 - r0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {
  split(out, f, " "); n = f[2] * d
  printf "%s service-cpu/decision %.1fµs redis-cpu/decision %.1fµs\n", out, s / hz / n * 1e6, r / hz / n * 1e6
}'
