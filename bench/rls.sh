#!/usr/bin/env bash
# Measures `cutover ratelimit serve` and, when it can be built,
# envoyproxy/ratelimit (its default settings and its pipeline settings) in
# one run: each on a fresh redis-server, under the same load for
# $DURATION (10s), with the CPU each spent per decision (the client's, the
# service's and Redis's) and the share of the machine's CPU the hypervisor
# took meanwhile (steal). $ROUNDS (1) rounds, interleaved; one line per
# service and round, its ratio to the same round's cutover:
#   round K <name> decisions/s N p50 X p99 Y errors E client-cpu/decision C ... steal S% × cutover R client NAME
#   bash bench/rls.sh                              # defaults
#   ROUNDS=3 bash bench/rls.sh                     # three interleaved rounds
#   bash bench/rls.sh --redis-pipeline-window 0    # extra flags for cutover
#
# The load: 32 concurrent calls on one HTTP/2 connection, as an Envoy
# worker holds them, each asking about one descriptor under a limit too
# high to refuse, so that every decision goes to Redis. CLIENT=h2load (the
# default) sends them with nghttp2's h2load (Debian's nghttp2-client;
# nghttp2 is the HTTP/2 library Envoy's own client was built on), the same
# request each time; it costs about 6 µs of CPU per call, against 30-55 µs
# for a grpc-go client, on the two cores it shares with the service and
# Redis. h2load sees HTTP statuses, not gRPC's: before each measurement
# bench/rlsclient (grpc-go, 100 keys) warms the service up and must get
# every answer, and the line gives the answer bytes per call (a gRPC error
# has none). CLIENT=rlsclient measures with bench/rlsclient instead.
#
# CUTOVER=path uses a given binary instead of building this checkout;
# PEER=0 skips envoyproxy/ratelimit; TLS=1 puts every service's Redis
# behind TLS (a CA and certificate made with openssl for the run).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-1}
CLIENT=${CLIENT:-h2load}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
for port in 16410 18210 18211; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "bench/rls.sh: port $port is in use (a process left from an earlier run?); stop it first" >&2
    exit 1
  fi
done
if [ -z "${CUTOVER:-}" ]; then
  go build -o "$WORK/cutover" ./cmd/cutover
  CUTOVER=$WORK/cutover
fi
go build -o "$WORK/rlsclient" ./bench/rlsclient
"$WORK/rlsclient" -domain bench -request-file "$WORK/request.bin"
if [ "$CLIENT" = h2load ] && ! command -v h2load >/dev/null 2>&1; then
  apt-get install -y -q nghttp2-client >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q nghttp2-client >/dev/null 2>&1; } || true
  command -v h2load >/dev/null 2>&1 || { echo "note: h2load (Debian's nghttp2-client) is missing; measured with bench/rlsclient" >&2; CLIENT=rlsclient; }
fi
mkdir -p "$WORK/rls" "$WORK/peer/ratelimit/config"
printf 'domain: bench\ndescriptors:\n  - key: user\n    rate_limit: {unit: second, requests_per_unit: 1000000000}\n' >"$WORK/rls/bench.yaml"
cp "$WORK/rls/bench.yaml" "$WORK/peer/ratelimit/config/"

# envoyproxy/ratelimit at the version its compatibility tests read, built
# with go install into a cache; skipped with a note when that fails.
PEER_VERSION=v1.4.1-0.20260122083618-3fb702589d36
peer_bin=${XDG_CACHE_HOME:-$HOME/.cache}/cutover/bench/ratelimit-$PEER_VERSION/service_cmd
if [ "${PEER:-1}" != 0 ] && [ ! -x "$peer_bin" ]; then
  GOBIN=$(dirname "$peer_bin") go install "github.com/envoyproxy/ratelimit/src/service_cmd@$PEER_VERSION" >"$WORK/peer-build.log" 2>&1 ||
    echo "note: envoyproxy/ratelimit $PEER_VERSION could not be built (see go install); measured cutover only" >&2
fi

# cpu PID: user+system clock ticks so far.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# machine: the machine's steal and total clock ticks so far.
machine() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t}' /proc/stat; }
cutover_rps=""

# load: one measurement, printed as rlsclient prints it: "decisions/s N
# p50 X p99 Y errors E client-cpu/decision Cµs", then "answer-bytes B"
# for h2load.
load() {
  if [ "$CLIENT" != h2load ]; then
    "$WORK/rlsclient" -addr 127.0.0.1:18211 -duration "$DURATION"
    return
  fi
  # The subshell's times are h2load's alone.
  (h2load -c 1 -m 32 -D "$DURATION" -d "$WORK/request.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
    --log-file="$WORK/h2load.log" http://127.0.0.1:18211/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit >"$WORK/h2load.out"
   times >"$WORK/h2load.times")
  local p50 p99
  read -r p50 p99 < <(cut -f3 "$WORK/h2load.log" | sort -n | awk '{v[NR] = $1} END {printf "%.2fms %.2fms\n", v[int(0.5 * (NR - 1)) + 1] / 1000, v[int(0.99 * (NR - 1)) + 1] / 1000}')
  awk -v p50="$p50" -v p99="$p99" -v cpu="$(tail -1 "$WORK/h2load.times")" '
    /^finished in/ {rps = $4}
    /^requests:/ {total = $2; ok = $8}
    /^traffic:/ {data = $(NF - 1); gsub(/[()]/, "", data)}
    END {
      split(cpu, c, " "); t = 0
      for (i = 1; i <= 2; i++) {m = c[i]; sub(/m.*/, "", m); x = c[i]; sub(/^[0-9]+m/, "", x); sub(/s$/, "", x); t += 60 * m + x}
      printf "decisions/s %.0f p50 %s p99 %s errors %d client-cpu/decision %.1fµs answer-bytes %.1f\n", rps, p50, p99, total - ok, t / (ok > 0 ? ok : 1) * 1e6, data / (ok > 0 ? ok : 1)
    }' "$WORK/h2load.out"
}

# measure NAME READY_URL: the service started just before as $service_pid,
# its Redis as $redis_pid.
measure() {
  local name=$1 ready=$2
  for _ in $(seq 100); do curl -fsS -o /dev/null "$ready" 2>/dev/null && break; sleep 0.1; done
  # Warm up with a client that reads gRPC's status: every call must be answered.
  local warm
  warm=$("$WORK/rlsclient" -addr 127.0.0.1:18211 -duration 2s)
  if [ "$(awk '{print $8}' <<<"$warm")" != 0 ]; then
    echo "bench/rls.sh: $name failed calls while warming up: $warm" >&2
  fi
  local s0 r0 s1 r1 m0 m1 out
  s0=$(cpu "$service_pid") r0=$(cpu "$redis_pid") m0=$(machine)
  out=$(load)
  s1=$(cpu "$service_pid") r1=$(cpu "$redis_pid") m1=$(machine)
  [ "$name" = cutover ] && cutover_rps=$(awk '{print $2}' <<<"$out")
  awk -v name="$name" -v round="$round" -v out="$out" -v d="${DURATION%s}" -v s=$((s1 - s0)) -v r=$((r1 - r0)) -v hz="$(getconf CLK_TCK)" -v c="$cutover_rps" \
    -v m0="$m0" -v m1="$m1" -v client="$CLIENT" 'BEGIN {
    n = split(out, f, " "); rest = ""
    for (i = 11; i <= n; i++) rest = rest " " f[i]
    out = f[1]; for (i = 2; i <= 10; i++) out = out " " f[i]
    dn = f[2] * d
    split(m0, a, " "); split(m1, b, " "); steal = (b[2] > a[2]) ? 100 * (b[1] - a[1]) / (b[2] - a[2]) : 0
    printf "round %d %s %s service-cpu/decision %.1fµs redis-cpu/decision %.1fµs steal %.0f%% × cutover %.2f client %s%s\n", round, name, out, s / hz / dn * 1e6, r / hz / dn * 1e6, steal, f[2] / c, client, rest
  }'
  kill "$service_pid" "$redis_pid"; wait "$service_pid" "$redis_pid" 2>/dev/null || true
}

redis_tls=() cutover_tls=() peer_tls=() cli_tls=()
if [ "${TLS:-0}" = 1 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench-ca \
    -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -keyout "$WORK/redis.key" -out "$WORK/redis.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$WORK/san.ext"
  openssl x509 -req -in "$WORK/redis.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 1 \
    -extfile "$WORK/san.ext" -out "$WORK/redis.pem" 2>/dev/null
  redis_tls=(--port 0 --tls-port 16410 --tls-cert-file "$WORK/redis.pem" --tls-key-file "$WORK/redis.key" --tls-ca-cert-file "$WORK/ca.pem" --tls-auth-clients no)
  cutover_tls=(--redis-tls --redis-tls-ca "$WORK/ca.pem")
  peer_tls=(REDIS_TLS=true REDIS_TLS_CACERT="$WORK/ca.pem")
  cli_tls=(--tls --cacert "$WORK/ca.pem")
fi

fresh_redis() {
  redis-server --port 16410 --bind 127.0.0.1 --save "" --appendonly no "${redis_tls[@]}" >/dev/null 2>&1 &
  redis_pid=$!
  for _ in $(seq 50); do redis-cli -p 16410 "${cli_tls[@]}" ping >/dev/null 2>&1 && break; sleep 0.1; done
}

# The services in turn, ROUNDS times over, so that a slow minute of the
# machine falls on all of them.
for round in $(seq "$ROUNDS"); do
  fresh_redis
  "$CUTOVER" ratelimit serve --config-dir "$WORK/rls" --redis 127.0.0.1:16410 --grpc 127.0.0.1:18211 --http 127.0.0.1:18210 --log-level warn "${cutover_tls[@]}" "$@" &
  service_pid=$!
  measure cutover http://127.0.0.1:18210/readyz

  if [ "${PEER:-1}" != 0 ] && [ -x "$peer_bin" ]; then
    # Its defaults, then the pipeline settings its README suggests.
    for mode in peer-default peer-pipelined; do
      fresh_redis
      extra=()
      [ $mode = peer-pipelined ] && extra=(REDIS_PIPELINE_WINDOW=150us REDIS_PIPELINE_LIMIT=8)
      env RUNTIME_ROOT="$WORK/peer" RUNTIME_SUBDIRECTORY=ratelimit RUNTIME_WATCH_ROOT=false USE_STATSD=false LOG_LEVEL=warn \
        REDIS_SOCKET_TYPE=tcp REDIS_URL=127.0.0.1:16410 GRPC_HOST=127.0.0.1 GRPC_PORT=18211 HOST=127.0.0.1 PORT=18210 \
        DEBUG_HOST=127.0.0.1 DEBUG_PORT=18212 "${extra[@]}" "${peer_tls[@]}" "$peer_bin" >"$WORK/$mode.log" 2>&1 &
      service_pid=$!
      measure "$mode" http://127.0.0.1:18210/healthcheck
    done
  fi
done
