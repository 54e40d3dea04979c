#!/usr/bin/env bash
# Compares cutover with nginx, HAProxy and Caddy on this machine, in one run:
# the same catch-all route over two weighted backends (90/10, the same small
# Go server), metrics on, access logs off, keep-alive to the upstreams. wrk
# drives each in turn over loopback; bench/RESULTS.md gets requests/s,
# p50/p99 latency and each one's ratio to nginx.
#
#   bash bench/run.sh                 # 10 s per proxy, 64 connections, 5 rounds
#   DURATION=30s CONNS=128 ROUNDS=5 bash bench/run.sh
#
# The proxies are measured in turn, ROUNDS times over (interleaved, so that
# a slow minute of the machine falls on all of them; cutover right after
# nginx, the comparison the gateway is held to), and each row is the round
# with the median requests/s, with the share of the machine's CPU the
# hypervisor took (steal) during it.
#
# Needs the Debian packages nginx-light (or nginx), haproxy, caddy, wrk and
# nghttp2-client (h2load, for the rate-limit services);
# it installs them with apt-get when missing and it can.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-5}
WORK=$(mktemp -d /tmp/cutover-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; sleep 0.3; rm -rf "$WORK"' EXIT

need=()
for cmd in nginx:nginx-light haproxy:haproxy caddy:caddy wrk:wrk redis-server:redis-server h2load:nghttp2-client; do
  command -v "${cmd%%:*}" >/dev/null 2>&1 || need+=("${cmd##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi

# A process left from an earlier run on one of these ports would be
# measured in place of the one this run starts: refuse to go on.
for port in 19001 19002 19003 18080 18081 18082 18083 18084 18085 18086 18087 18088 18089 18090 18091 18092 18093 18096 18097 18098 16410 18210 18211; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "bench/run.sh: port $port is in use (a process left from an earlier run?); stop it first" >&2
    exit 1
  fi
done

go build -o "$WORK/cutover" ./cmd/cutover
go build -o "$WORK/backend" ./bench/backend
go build -o "$WORK/reverseproxy" ./bench/reverseproxy
go build -o "$WORK/fasthttpproxy" ./bench/fasthttpproxy
go build -o "$WORK/rlsclient" ./bench/rlsclient
"$WORK/backend" -addr 127.0.0.1:19001 -name legacy & 
"$WORK/backend" -addr 127.0.0.1:19002 -name new &
"$WORK/backend" -addr 127.0.0.1:19003 -name shadow &

sed "s#@WORK@#$WORK#g" bench/nginx.conf > "$WORK/nginx.conf"
sed "s#@WORK@#$WORK#g" bench/nginx-features.conf > "$WORK/nginx-features.conf"
nginx -c "$WORK/nginx.conf" -g "pid $WORK/nginx.pid; error_log $WORK/nginx.err warn;" &
nginx -c "$WORK/nginx-features.conf" -g "pid $WORK/nginx-features.pid; error_log $WORK/nginx-features.err warn;" &
haproxy -f bench/haproxy.cfg -db >"$WORK/haproxy.log" 2>&1 &
XDG_DATA_HOME=$WORK XDG_CONFIG_HOME=$WORK caddy run --config bench/Caddyfile --adapter caddyfile >"$WORK/caddy.log" 2>&1 &
"$WORK/reverseproxy" -addr 127.0.0.1:18084 &
"$WORK/fasthttpproxy" -addr 127.0.0.1:18089 &
"$WORK/cutover" serve -f bench/cutover.yaml --state "$WORK/state" --log-level warn >"$WORK/cutover.log" 2>&1 &

# Traefik, with its default proxy and with --experimental.fastProxy (its
# fasthttp-based upstream leg), built with go install into a cache; skipped
# with a note when it cannot be built.
# v3.7 needs a module version the proxy does not serve (containous/go-http-auth).
TRAEFIK_VERSION=v3.6.12
traefik_bin=${XDG_CACHE_HOME:-$HOME/.cache}/cutover/bench/traefik-$TRAEFIK_VERSION/traefik
if [ ! -x "$traefik_bin" ]; then
  # Its go.mod has replace directives, which go install refuses: build it
  # as the main module, from a copy of its module in the module cache.
  mkdir -p "$(dirname "$traefik_bin")"
  (
    src=$(cd "$WORK" && go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    cp -r "$src" "$WORK/traefik-src" && chmod -R u+w "$WORK/traefik-src"
    cd "$WORK/traefik-src" && go build -o "$traefik_bin" ./cmd/traefik
  ) >"$WORK/traefik-build.log" 2>&1 || true
fi
traefik_ports=()
traefik_note=""
if [ -x "$traefik_bin" ]; then
  cat > "$WORK/traefik-dynamic.yaml" <<'DYN'
http:
  routers:
    web: {rule: "PathPrefix(`/`)", service: split}
  services:
    split:
      weighted:
        services: [{name: legacy, weight: 90}, {name: new, weight: 10}]
    legacy: {loadBalancer: {servers: [{url: "http://127.0.0.1:19001"}]}}
    new: {loadBalancer: {servers: [{url: "http://127.0.0.1:19002"}]}}
DYN
  for mode in default fastproxy; do
    port=18087; extra=()
    [ $mode = fastproxy ] && { port=18088; extra=(--experimental.fastProxy); }
    # Its own entry point (metrics) needs a port of each instance's too.
    "$traefik_bin" --entryPoints.web.address=127.0.0.1:$port --entryPoints.traefik.address=127.0.0.1:$((port + 10)) \
      --providers.file.filename="$WORK/traefik-dynamic.yaml" \
      --metrics.prometheus=true --log.level=ERROR --global.checkNewVersion=false --global.sendAnonymousUsage=false \
      "${extra[@]}" >"$WORK/traefik-$mode.log" 2>&1 &
    traefik_ports+=("$mode:$port")
  done
else
  traefik_note="Traefik $TRAEFIK_VERSION could not be built here (go install failed; see the build log), so it is not in this run."
fi

for port in 19001 19002 19003 18080 18081 18082 18083 18084 18085 18089 $(for tp in "${traefik_ports[@]}"; do echo "${tp##*:}"; done); do
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break
    sleep 0.1
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$port/" || { echo "nothing answers on $port"; cat "$WORK"/*.log "$WORK"/nginx.err 2>/dev/null; exit 1; }
done

# machine: the machine's steal and total clock ticks so far.
machine() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t}' /proc/stat; }

# run NAME PORT: prints "NAME rps p50 p99 steal errors" from wrk --latency.
run() {
  local out m0 m1
  wrk -t"$THREADS" -c"$CONNS" -d2s "http://127.0.0.1:$2/" >/dev/null # warm up pools
  m0=$(machine)
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$2/")
  m1=$(machine)
  local rps p50 p99 errors steal
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  steal=$(awk -v a="$m0" -v b="$m1" 'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.0f%%", (y[2] > x[2]) ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 0}')
  echo "$1 $rps $p50 $p99 $steal ${errors:-none}"
}

# median_rows [KEEP]: of the rows "NAME rps f3..fKEEP errors..." read from
# stdin (KEEP 5: p50, p99, steal), one per name in the order first seen:
# the round with the median requests/s, with the errors of any round.
median_rows() {
  awk -v keep="${1:-5}" '{
    if (!($1 in n)) order[++names] = $1
    i = ++n[$1]; rps[$1, i] = $2; r = $1; for (f = 2; f <= keep; f++) r = r " " $f; row[$1, i] = r
    e = ""; for (f = keep + 1; f <= NF; f++) e = e (e == "" ? "" : " ") $f
    if (e != "none") err[$1] = err[$1] (err[$1] == "" ? "" : " ") e
  }
  END {
    for (k = 1; k <= names; k++) {
      name = order[k]; m = n[name]
      for (i = 1; i <= m; i++) idx[i] = i
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
        if (rps[name, idx[j]] + 0 < rps[name, idx[i]] + 0) { t = idx[i]; idx[i] = idx[j]; idx[j] = t }
      print row[name, idx[int((m + 1) / 2)]] " " (err[name] == "" ? "none" : err[name])
    }
  }'
}

# per_round A B: of the rows "NAME rps ..." read from stdin, B's requests/s
# over A's in each round, the k-th B row against the k-th A row.
per_round() {
  awk -v a="$1" -v b="$2" '$1 == a {x[++na] = $2} $1 == b {y[++nb] = $2}
    END {for (i = 1; i <= nb && i <= na; i++) printf "%s%.2f", (i > 1 ? ", " : ""), y[i] / x[i]}'
}

rounds=()
for _ in $(seq "$ROUNDS"); do
  rounds+=("$(run nginx 18080)")
  rounds+=("$(run cutover 18083)")
  rounds+=("$(run haproxy 18081)")
  rounds+=("$(run caddy 18082)")
  for tp in "${traefik_ports[@]}"; do
    rounds+=("$(run "traefik-${tp%%:*}" "${tp##*:}")")
  done
  rounds+=("$(run go-reverseproxy 18084)")
  rounds+=("$(run fasthttp-proxy 18089)")
  rounds+=("$(run backend-direct 19001)")
done
mapfile -t results < <(printf '%s\n' "${rounds[@]}" | median_rows)

# Features, one at a time, then all on, against nginx with the same ones.
# cutover_config FEATURES writes a config serving on 127.0.0.1:18086.
cutover_config() {
  local f=$1 route_extra="" spec_extra=""
  [[ $f == *sticky* || $f == all ]] && route_extra+=$'    stickiness: {cookie: {name: sticky}}\n'
  [[ $f == *ratelimit* || $f == all ]] && route_extra+=$'    rateLimits: [{name: high, key: {clientIP: true}, tokenBucket: {maxTokens: 100000000, tokensPerFill: 100000000, fillInterval: 1s}}]\n'
  [[ $f == *mirror* || $f == all ]] && route_extra+=$'    mirror: {backend: shadow, percent: 10}\n'
  [[ $f == *accesslog* || $f == all ]] && spec_extra+="  accessLog: {sinks: [{file: {path: $WORK/cutover-access.log}}]}"$'\n'
  cat <<CFG
apiVersion: cutover.dev/v1alpha1
kind: Gateway
metadata: {name: bench}
spec:
  listeners: [{address: "127.0.0.1:18086"}]
  admin: {address: "127.0.0.1:18096"}
  drainDelay: 0s
${spec_extra}  backends:
  - {name: legacy, version: v1, endpoints: [http://127.0.0.1:19001]}
  - {name: new, version: v2, endpoints: [http://127.0.0.1:19002]}
  - {name: shadow, version: v2, endpoints: [http://127.0.0.1:19003]}
  routes:
  - name: web
    backends: [{name: legacy, weight: 90}, {name: new, weight: 10}]
${route_extra}
CFG
}

features=(base sticky accesslog ratelimit mirror all)
feature_rounds=()
for _ in $(seq "$ROUNDS"); do
  for f in "${features[@]}"; do
    cutover_config "$f" > "$WORK/cutover-$f.yaml"
    rm -rf "$WORK/state-$f"
    "$WORK/cutover" serve -f "$WORK/cutover-$f.yaml" --state "$WORK/state-$f" --log-level warn >"$WORK/cutover-$f.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -fsS -o /dev/null http://127.0.0.1:18086/ 2>/dev/null && break; sleep 0.1; done
    feature_rounds+=("$(run "cutover-$f" 18086)")
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
  feature_rounds+=("$(run nginx-all 18085)")
done
mapfile -t feature_results < <(printf '%s\n' "${feature_rounds[@]}" | median_rows)

# The global rate-limit service and envoyproxy/ratelimit: 32 concurrent
# calls from h2load on one connection, counters in a Redis on this machine.
mapfile -t rls_rounds < <(CUTOVER="$WORK/cutover" DURATION="$DURATION" ROUNDS="$ROUNDS" bash bench/rls.sh)
# One row per service, "NAME decisions/s p50 p99 service-cpu steal ratio
# errors": its round with the median decisions/s and the errors of all
# rounds; rls_each: cutover's ratio to each service in every round.
mapfile -t rls_results < <(printf '%s\n' "${rls_rounds[@]}" | awk '{print $3, $5, $7, $9, $15, $19, $22, ($11 == 0 ? "none" : $11 " errors")}' | median_rows 7)
declare -A rls_each
while read -r name each; do rls_each[$name]=$each; done < <(printf '%s\n' "${rls_rounds[@]}" |
  awk '{if (!($3 in e)) order[++n] = $3; e[$3] = e[$3] (e[$3] == "" ? "" : ", ") sprintf("%.2f", $22 > 0 ? 1 / $22 : 0)}
    END {for (k = 1; k <= n; k++) print order[k], e[order[k]]}')

nginx_rps=$(awk '{print $2}' <<<"${results[0]}")
{
  echo "# Benchmark results"
  echo
  echo "Written by \`bash bench/run.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
  echo "wrk -t$THREADS -c$CONNS -d$DURATION over loopback. Everything (wrk, the proxy, both backends) shares these cores,"
  echo "so compare the ratios, which come from one run, rather than the absolute numbers. Each row is the median of $ROUNDS interleaved rounds (by requests/s)."
  echo
  echo "Setup for every proxy: one catch-all route, two backends (the Go server in bench/backend) weighted 90/10"
  echo "(Caddy $(caddy version | cut -d' ' -f1) has no weighted policy: round robin), keep-alive upstream connections,"
  echo "metrics on, access logs off. go-reverseproxy is Go's plain httputil.ReverseProxy (bench/reverseproxy), the baseline"
  echo "a Go gateway starts from, without metrics; fasthttp-proxy is fasthttp's server and HostClient with nothing else"
  echo "(bench/fasthttpproxy), the floor under cutover's fast path. Versions: $(nginx -v 2>&1 | cut -d' ' -f3), $(haproxy -v | head -1 | cut -d' ' -f1-3), cutover $(git rev-parse --short HEAD)."
  echo
  [ -n "$traefik_note" ] && { echo "$traefik_note"; echo; }
  echo "| proxy | requests/s | p50 | p99 | × nginx | steal | errors |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
  for r in "${results[@]}"; do
    read -r name rps p50 p99 steal errors <<<"$r"
    ratio=$(awk -v a="$rps" -v b="$nginx_rps" 'BEGIN {printf "%.2f", a/b}')
    echo "| $name | $rps | $p50 | $p99 | $ratio | $steal | $errors |"
  done
  echo
  echo "cutover ÷ nginx in each round (measured one right after the other): $(printf '%s\n' "${rounds[@]}" | per_round nginx cutover)."
  echo
  echo "## Each feature's cost"
  echo
  echo "The gateway with one feature at a time, then all of them (a sticky weighted split, a JSON access log to a"
  echo "file, a local rate limit too high to trigger, a 10 % mirror to a third backend, metrics), against nginx"
  echo "with the same features as nginx allows them (bench/nginx-features.conf: split_clients, hash on the sticky"
  echo "cookie, a JSON access_log, limit_req, mirror with split_clients for 10 %)."
  echo
  echo "| run | requests/s | p50 | p99 | × base | × nginx-all | steal | errors |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  base_rps=$(awk '{print $2}' <<<"${feature_results[0]}")
  nginx_all_rps=$(awk '{print $2}' <<<"${feature_results[-1]}")
  for r in "${feature_results[@]}"; do
    read -r name rps p50 p99 steal errors <<<"$r"
    echo "| $name | $rps | $p50 | $p99 | $(awk -v a="$rps" -v b="$base_rps" 'BEGIN {printf "%.2f", a/b}') | $(awk -v a="$rps" -v b="$nginx_all_rps" 'BEGIN {printf "%.2f", a/b}') | $steal | $errors |"
  done
  echo
  echo "cutover-all ÷ nginx-all in each round: $(printf '%s\n' "${feature_rounds[@]}" | per_round nginx-all cutover-all)."
  echo
  echo "## Global rate-limit service"
  echo
  echo "\`cutover ratelimit serve\` with Redis on this machine, driven by h2load (nghttp2's; 32 concurrent gRPC calls on one"
  echo "HTTP/2 connection, as an Envoy worker makes them, about 6 µs of client CPU per call) after a warm-up with"
  echo "bench/rlsclient (grpc-go, 100 keys) that must get every answer; a limit too high to refuse, so that every"
  echo "decision goes to Redis. Each round's line below gives the client, its CPU per call and the answer bytes per call."
  echo
  echo "| service | decisions/s | p50 | p99 | service CPU/decision | steal | × cutover | errors | cutover ÷ it, each round |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  cutover_rls=$(awk '{print $2}' <<<"${rls_results[0]}")
  for r in "${rls_results[@]}"; do
    read -r name rps p50 p99 cpu steal _ errors <<<"$r"
    each=${rls_each[$name]}
    [ "$name" = cutover ] && each=""
    echo "| $name | $rps | $p50 | $p99 | $cpu | $steal | $(awk -v a="$rps" -v b="$cutover_rls" 'BEGIN {printf "%.2f", a/b}') | $errors | $each |"
  done
  echo
  echo "Each row is the service's round with the median decisions/s, of $ROUNDS rounds; the last column is cutover's"
  echo "decisions/s over the peer's in each round. peer-default is envoyproxy/ratelimit with its default settings,"
  echo "peer-pipelined with REDIS_PIPELINE_WINDOW=150us and REDIS_PIPELINE_LIMIT=8. The services of a round run side"
  echo "by side, each on its own fresh Redis, and take the load in turns of 2 s, the order turning each time, until"
  echo "each has had $DURATION. Steal is the share of the machine's CPU time the hypervisor gave to others during its turns."
  echo
  echo "## Every round"
  echo
  echo "In the order run: name, requests or decisions/s, p50, p99, steal, errors (wrk), then the rate-limit lines as"
  echo "bench/rls.sh prints them."
  echo
  echo '```'
  printf '%s\n' "${rounds[@]}" "${feature_rounds[@]}" "${rls_rounds[@]}"
  echo '```'
} > bench/RESULTS.md
cat bench/RESULTS.md
