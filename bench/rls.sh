#!/usr/bin/env bash
# Measures `cutover ratelimit serve` and, when it can be built,
# envoyproxy/ratelimit (its default settings and its pipeline settings) in
# one run: each on a fresh redis-server, under the same load for
# $DURATION (10s) in turns of $SLICE (2s), with the CPU each spent per
# decision (the client's, the service's and Redis's) and the share of the
# machine's CPU the hypervisor took meanwhile (steal). $ROUNDS (1) rounds;
# one line per service and round, its ratio to the same round's cutover:
#   round K <name> decisions/s N p50 X p99 Y errors E client-cpu/decision C ... steal S% × cutover R client NAME
#   bash bench/rls.sh                              # defaults
#   ROUNDS=3 bash bench/rls.sh                     # three rounds
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
# BASE=path adds another build of cutover as the service cutover-base, to
# compare a change with the build before it in the same turns; PEER=0
# skips envoyproxy/ratelimit; TLS=1 puts every service's Redis behind TLS
# (a CA and certificate made with openssl for the run).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-1}
CLIENT=${CLIENT:-h2load}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
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
seconds() { awk -v d="$1" 'BEGIN {sub(/s$/, "", d); print d + 0}'; }

# The services of a round run side by side, each on its own fresh Redis
# and ports, and take the load in turns of $SLICE (2s) until each has had
# $DURATION, the order turning each time: this machine's speed drifts by a
# third from one minute to the next (other tenants), and turns spread
# that drift over all of them instead of letting it fall on one. Service i
# listens on gRPC 18211+10i, HTTP 18210+10i, debug 18212+10i; its Redis on
# 16410+i.
names=(cutover)
[ -n "${BASE:-}" ] && names+=(cutover-base)
if [ "${PEER:-1}" != 0 ] && [ -x "$peer_bin" ]; then
  # Its defaults, then the pipeline settings its README suggests.
  names+=(peer-default peer-pipelined)
fi
slice=$(seconds "${SLICE:-2s}") duration=$(seconds "$DURATION")
if [ "$CLIENT" != h2load ]; then
  slice=$duration # rlsclient's percentiles cannot be merged
fi
slices=$(awk -v d="$duration" -v s="$slice" 'BEGIN {n = int(d / s + 0.5); print (n < 1 ? 1 : n)}')
for i in "${!names[@]}"; do
  for port in $((16410 + i)) $((18210 + 10 * i)) $((18211 + 10 * i)) $((18212 + 10 * i)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "bench/rls.sh: port $port is in use (a process left from an earlier run?); stop it first" >&2
      exit 1
    fi
  done
done

redis_tls=() cutover_tls=() peer_tls=() cli_tls=()
if [ "${TLS:-0}" = 1 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench-ca \
    -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -keyout "$WORK/redis.key" -out "$WORK/redis.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$WORK/san.ext"
  openssl x509 -req -in "$WORK/redis.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 1 \
    -extfile "$WORK/san.ext" -out "$WORK/redis.pem" 2>/dev/null
  redis_tls=(--port 0 --tls-cert-file "$WORK/redis.pem" --tls-key-file "$WORK/redis.key" --tls-ca-cert-file "$WORK/ca.pem" --tls-auth-clients no)
  cutover_tls=(--redis-tls --redis-tls-ca "$WORK/ca.pem")
  peer_tls=(REDIS_TLS=true REDIS_TLS_CACERT="$WORK/ca.pem")
  cli_tls=(--tls --cacert "$WORK/ca.pem")
fi

# start I: service I and a fresh Redis for it, once both answer.
declare -a service_pid redis_pid
start() {
  local i=$1 name=${names[$1]} rport=$((16410 + $1)) gport=$((18211 + 10 * $1)) hport=$((18210 + 10 * $1))
  if [ ${#redis_tls[@]} -gt 0 ]; then
    redis-server --tls-port "$rport" --bind 127.0.0.1 --save "" --appendonly no "${redis_tls[@]}" >/dev/null 2>&1 &
  else
    redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 &
  fi
  redis_pid[i]=$!
  for _ in $(seq 50); do redis-cli -p "$rport" "${cli_tls[@]}" ping >/dev/null 2>&1 && break; sleep 0.1; done
  local ready=http://127.0.0.1:$hport/readyz
  if [ "$name" = cutover ] || [ "$name" = cutover-base ]; then
    local bin=$CUTOVER
    [ "$name" = cutover-base ] && bin=$BASE
    "$bin" ratelimit serve --config-dir "$WORK/rls" --redis "127.0.0.1:$rport" --grpc "127.0.0.1:$gport" --http "127.0.0.1:$hport" \
      --log-level warn "${cutover_tls[@]}" "${cutover_flags[@]}" &
  else
    ready=http://127.0.0.1:$hport/healthcheck
    local extra=()
    [ "$name" = peer-pipelined ] && extra=(REDIS_PIPELINE_WINDOW=150us REDIS_PIPELINE_LIMIT=8)
    env RUNTIME_ROOT="$WORK/peer" RUNTIME_SUBDIRECTORY=ratelimit RUNTIME_WATCH_ROOT=false USE_STATSD=false LOG_LEVEL=warn \
      REDIS_SOCKET_TYPE=tcp REDIS_URL="127.0.0.1:$rport" GRPC_HOST=127.0.0.1 GRPC_PORT="$gport" HOST=127.0.0.1 PORT="$hport" \
      DEBUG_HOST=127.0.0.1 DEBUG_PORT=$((18212 + 10 * i)) "${extra[@]}" "${peer_tls[@]}" "$peer_bin" >"$WORK/$name.log" 2>&1 &
  fi
  service_pid[i]=$!
  for _ in $(seq 100); do curl -fsS -o /dev/null "$ready" 2>/dev/null && break; sleep 0.1; done
  # Warm up with a client that reads gRPC's status: every call must be answered.
  local warm
  warm=$("$WORK/rlsclient" -addr "127.0.0.1:$gport" -duration 2s)
  if [ "$(awk '{print $8}' <<<"$warm")" != 0 ]; then
    echo "bench/rls.sh: $name failed calls while warming up: $warm" >&2
  fi
}

# turn I: one slice of load on service I, added to its totals in
# $WORK/I.sums ("seconds ok total bytes client-cpu service-ticks
# redis-ticks steal-ticks machine-ticks") and, for h2load, its latencies
# to $WORK/I.lat.
turn() {
  local i=$1 gport=$((18211 + 10 * $1)) s0 r0 m0 s1 r1 m1 out
  s0=$(cpu "${service_pid[i]}") r0=$(cpu "${redis_pid[i]}") m0=$(machine)
  if [ "$CLIENT" = h2load ]; then
    # h2load appends to its log: a log left from the turn before would
    # give this service the latencies of another.
    rm -f "$WORK/h2load.log"
    # The subshell's times are h2load's alone.
    (h2load -c 1 -m 32 -D "$slice" -d "$WORK/request.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
      --log-file="$WORK/h2load.log" "http://127.0.0.1:$gport/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit" >"$WORK/h2load.out"
     times >"$WORK/h2load.times")
    cut -f3 "$WORK/h2load.log" >>"$WORK/$i.lat"
    local logged done
    logged=$(wc -l <"$WORK/h2load.log") done=$(awk '/^requests:/ {print $6}' "$WORK/h2load.out")
    if [ "$logged" != "$done" ]; then
      echo "bench/rls.sh: h2load logged $logged latencies for $done requests done" >&2
      exit 1
    fi
    out=$(awk -v cpu="$(tail -1 "$WORK/h2load.times")" '
      /^finished in/ {t = $3; sub(/s,$/, "", t)}
      /^requests:/ {total = $2; ok = $8}
      /^traffic:/ {data = $(NF - 1); gsub(/[()]/, "", data)}
      END {
        split(cpu, c, " "); u = 0
        for (k = 1; k <= 2; k++) {m = c[k]; sub(/m.*/, "", m); x = c[k]; sub(/^[0-9]+m/, "", x); sub(/s$/, "", x); u += 60 * m + x}
        print t, ok, total, data, u
      }' "$WORK/h2load.out")
  else
    "$WORK/rlsclient" -addr "127.0.0.1:$gport" -duration "$DURATION" >"$WORK/$i.rlsclient"
    out="$slice 0 0 0 0"
  fi
  s1=$(cpu "${service_pid[i]}") r1=$(cpu "${redis_pid[i]}") m1=$(machine)
  awk -v out="$out" -v s=$((s1 - s0)) -v r=$((r1 - r0)) -v m0="$m0" -v m1="$m1" 'BEGIN {
    split(m0, a, " "); split(m1, b, " ")
    print out, s, r, b[1] - a[1], b[2] - a[2]
  }' >>"$WORK/$i.sums"
}

# report I: service I's line for the round, from its slices.
cutover_rps=""
report() {
  local i=$1 name=${names[$1]} line
  if [ "$CLIENT" = h2load ]; then
    local p50 p99
    read -r p50 p99 < <(sort -n "$WORK/$i.lat" | awk '{v[NR] = $1} END {printf "%.2fms %.2fms\n", v[int(0.5 * (NR - 1)) + 1] / 1000, v[int(0.99 * (NR - 1)) + 1] / 1000}')
    line=$(awk -v p50="$p50" -v p99="$p99" '{for (k = 1; k <= NF; k++) sum[k] += $k}
      END {
        ok = sum[2] > 0 ? sum[2] : 1
        printf "decisions/s %.0f p50 %s p99 %s errors %d client-cpu/decision %.1fµs %d %d %d %d %.2f\n",
          sum[2] / sum[1], p50, p99, sum[3] - sum[2], sum[5] / ok * 1e6, sum[6], sum[7], sum[8], sum[9], sum[4] / ok
      }' "$WORK/$i.sums")
  else
    line="$(cat "$WORK/$i.rlsclient") $(awk '{for (k = 6; k <= 9; k++) printf "%d ", $k}' "$WORK/$i.sums")"
  fi
  [ "$name" = cutover ] && cutover_rps=$(awk '{print $2}' <<<"$line")
  awk -v name="$name" -v round="$round" -v line="$line" -v d="$duration" -v hz="$(getconf CLK_TCK)" -v c="$cutover_rps" -v client="$CLIENT" 'BEGIN {
    split(line, f, " ")
    out = f[1]; for (k = 2; k <= 10; k++) out = out " " f[k]
    dn = f[2] * d
    rest = (client == "h2load") ? " answer-bytes " f[15] : ""
    printf "round %d %s %s service-cpu/decision %.1fµs redis-cpu/decision %.1fµs steal %.0f%% × cutover %.2f client %s%s\n",
      round, name, out, f[11] / hz / dn * 1e6, f[12] / hz / dn * 1e6, (f[14] > 0 ? 100 * f[13] / f[14] : 0), f[2] / c, client, rest
  }'
}

cutover_flags=("$@")
for round in $(seq "$ROUNDS"); do
  for i in "${!names[@]}"; do
    rm -f "$WORK/$i.sums" "$WORK/$i.lat"
    start "$i"
  done
  for s in $(seq "$slices"); do
    for k in "${!names[@]}"; do
      turn $(((s + k) % ${#names[@]}))
    done
  done
  for i in "${!names[@]}"; do
    report "$i"
  done
  for i in "${!names[@]}"; do
    kill "${service_pid[i]}" "${redis_pid[i]}"
    wait "${service_pid[i]}" "${redis_pid[i]}" 2>/dev/null || true
  done
done
