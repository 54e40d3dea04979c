#!/usr/bin/env bash
# Compares cutover with nginx, HAProxy and Caddy on this machine, in one run:
# the same catch-all route over two weighted backends (90/10, the same small
# Go server), metrics on, access logs off, keep-alive to the upstreams. wrk
# drives each in turn over loopback; bench/RESULTS.md gets requests/s,
# p50/p99 latency and each one's ratio to nginx.
#
#   bash bench/run.sh                 # 10 s per proxy, 64 connections
#   DURATION=30s CONNS=128 bash bench/run.sh
#
# Needs the Debian packages nginx-light (or nginx), haproxy, caddy and wrk;
# it installs them with apt-get when missing and it can.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
WORK=$(mktemp -d /tmp/cutover-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; sleep 0.3; rm -rf "$WORK"' EXIT

need=()
for cmd in nginx:nginx-light haproxy:haproxy caddy:caddy wrk:wrk; do
  command -v "${cmd%%:*}" >/dev/null 2>&1 || need+=("${cmd##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi

go build -o "$WORK/cutover" ./cmd/cutover
go build -o "$WORK/backend" ./bench/backend
go build -o "$WORK/reverseproxy" ./bench/reverseproxy
"$WORK/backend" -addr 127.0.0.1:19001 -name legacy & 
"$WORK/backend" -addr 127.0.0.1:19002 -name new &

sed "s#@WORK@#$WORK#g" bench/nginx.conf > "$WORK/nginx.conf"
nginx -c "$WORK/nginx.conf" -g "pid $WORK/nginx.pid; error_log $WORK/nginx.err warn;" &
haproxy -f bench/haproxy.cfg -db >"$WORK/haproxy.log" 2>&1 &
XDG_DATA_HOME=$WORK XDG_CONFIG_HOME=$WORK caddy run --config bench/Caddyfile --adapter caddyfile >"$WORK/caddy.log" 2>&1 &
"$WORK/reverseproxy" -addr 127.0.0.1:18084 &
"$WORK/cutover" serve -f bench/cutover.yaml --state "$WORK/state" --log-level warn >"$WORK/cutover.log" 2>&1 &

for port in 19001 19002 18080 18081 18082 18083 18084; do
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break
    sleep 0.1
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$port/" || { echo "nothing answers on $port"; cat "$WORK"/*.log "$WORK"/nginx.err 2>/dev/null; exit 1; }
done

# run NAME PORT: prints "NAME rps p50 p99" from wrk --latency.
run() {
  local out
  wrk -t"$THREADS" -c"$CONNS" -d2s "http://127.0.0.1:$2/" >/dev/null # warm up pools
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$2/")
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  echo "$1 $rps $p50 $p99 ${errors:-none}"
}

results=()
results+=("$(run nginx 18080)")
results+=("$(run haproxy 18081)")
results+=("$(run caddy 18082)")
results+=("$(run cutover 18083)")
results+=("$(run go-reverseproxy 18084)")
results+=("$(run backend-direct 19001)")

nginx_rps=$(awk '{print $2}' <<<"${results[0]}")
{
  echo "# Benchmark results"
  echo
  echo "Written by \`bash bench/run.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
  echo "wrk -t$THREADS -c$CONNS -d$DURATION over loopback. Everything (wrk, the proxy, both backends) shares these cores,"
  echo "so compare the ratios, which come from one run, rather than the absolute numbers."
  echo
  echo "Setup for every proxy: one catch-all route, two backends (the Go server in bench/backend) weighted 90/10"
  echo "(Caddy $(caddy version | cut -d' ' -f1) has no weighted policy: round robin), keep-alive upstream connections,"
  echo "metrics on, access logs off. go-reverseproxy is Go's plain httputil.ReverseProxy (bench/reverseproxy), the baseline"
  echo "a Go gateway starts from, without metrics. Versions: $(nginx -v 2>&1 | cut -d' ' -f3), $(haproxy -v | head -1 | cut -d' ' -f1-3), cutover $(git rev-parse --short HEAD)."
  echo
  echo "| proxy | requests/s | p50 | p99 | × nginx | errors |"
  echo "| --- | ---: | ---: | ---: | ---: | --- |"
  for r in "${results[@]}"; do
    read -r name rps p50 p99 errors <<<"$r"
    ratio=$(awk -v a="$rps" -v b="$nginx_rps" 'BEGIN {printf "%.2f", a/b}')
    echo "| $name | $rps | $p50 | $p99 | $ratio | $errors |"
  done
} > bench/RESULTS.md
cat bench/RESULTS.md
