#!/usr/bin/env bash
# CPU per request of a running proxy: drives it with wrk and reads the
# user and system time its processes spent, from /proc, around the run.
#
#   bash bench/cpu.sh PORT PID...     # e.g. nginx's workers, or cutover serve
#   DURATION=10s bash bench/cpu.sh 18083 $(pgrep -f 'cutover serve')
#
# Prints requests/s and the proxy's user and system µs per request; run
# the proxies being compared interleaved, on the same backends.
set -euo pipefail
port=$1
shift
DURATION=${DURATION:-6s}
ticks() {
  local u=0 s=0 a b
  for p in "$@"; do
    for t in /proc/"$p"/task/*/stat; do
      read -r a b < <(awk '{print $14, $15}' "$t" 2>/dev/null) || continue
      u=$((u + a)) s=$((s + b))
    done
  done
  echo "$u $s"
}
read -r u0 s0 < <(ticks "$@")
out=$(wrk -t2 -c64 -d"$DURATION" "http://127.0.0.1:$port/")
read -r u1 s1 < <(ticks "$@")
awk -v out="$out" -v du=$((u1 - u0)) -v ds=$((s1 - s0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {
  n = 0; rps = 0
  split(out, lines, "\n")
  for (i in lines) {
    if (lines[i] ~ /requests in/) { split(lines[i], f, " "); n = f[1] }
    if (lines[i] ~ /Requests\/sec/) { split(lines[i], f, " "); rps = f[2] }
  }
  printf "requests/s %s  user %.1f µs/request  system %.1f µs/request\n", rps, du / hz / n * 1e6, ds / hz / n * 1e6
}'
