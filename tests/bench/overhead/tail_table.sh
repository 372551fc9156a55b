#!/usr/bin/env bash
# The tail table: c=1 latency p50 / p99 / p99.9 and c=64 throughput, side by side in ONE run, for
#   direct        client --OpenAI--> fast_upstream
#   nginx hop     client --OpenAI--> nginx proxy_pass --> fast_upstream
#   metering on   client --Anthropic--> tianshu (default settings) --OpenAI--> fast_upstream
#   metering off  the same through a second tianshu started with `serve --metering off`
# for the small request and the ~75 KB Claude-Code-shaped one (24 tools).
#
#   bash tests/bench/overhead/tail_table.sh BUILD_DIR
#
# The paths take turns in ROUNDS short rounds (order rotated every round) so a slow stretch of
# this shared machine lands on all of them; a path's percentiles are over all its rounds' requests.
# Environment: REQUESTS (c=1 timed requests per path and size, default 20000: p99.9 then rests on
# 20 requests), ROUNDS (default 5), DURATION_C64 (seconds per path at c=64, default 8),
# SKIP_NGINX=1, EXTRA_SERVE_ARGS (added to both tianshu serves). Prints figures; asserts nothing.
set -euo pipefail

BUILD=${1:?usage: tail_table.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
TIANSHU=${TIANSHU:-$BUILD/tianshu}
PLUGINS=$BUILD/plugins
REQUESTS=${REQUESTS:-20000}
ROUNDS=${ROUNDS:-5}
DURATION_C64=${DURATION_C64:-8}
read -r -a EXTRA <<<"${EXTRA_SERVE_ARGS:-}"
[[ -x $TIANSHU ]] || { echo "$TIANSHU not found: cmake --build $BUILD --target tianshu openai_compat" >&2; exit 1; }
command -v node >/dev/null || { echo "node is needed (payload generator)" >&2; exit 1; }
HAVE_NGINX=1
if [[ ${SKIP_NGINX:-0} == 1 ]] || ! command -v nginx >/dev/null; then
  HAVE_NGINX=0; echo "nginx not installed (apt-get install nginx) or SKIP_NGINX=1: the nginx row is skipped"
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

OUT=$BUILD/bench-results/tail
rm -rf "$OUT"; mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tianshu-tail.XXXXXX")
PIDS=()
trap 'stop_pids; rm -rf "$WORK"' EXIT

build_bench_tools "$OUT"
PL=$OUT/payloads
start_fast_upstream "$OUT"
echo "fast upstream: 127.0.0.1:$UP"

if [[ $HAVE_NGINX == 1 ]]; then
  start_nginx_hop "$OUT" "$WORK"
fi

declare -A PORT KEY
for m in on off; do
  echo "+ $TIANSHU serve --data $WORK/data-$m --listen 127.0.0.1:0 --plugins-dir $PLUGINS --metering $m ${EXTRA[*]}"
  start_tianshu_on_upstream "$TIANSHU" "$PLUGINS" "$WORK/data-$m" "$WORK/tianshu-$m.out" --metering "$m" "${EXTRA[@]}"
  PORT[$m]=$TS; KEY[$m]=$TS_KEY
done
for m in on off; do
  answers_through "${PORT[$m]}" "${KEY[$m]}" "$PL/small.anthropic.json" &&
    answers_through "${PORT[$m]}" "${KEY[$m]}" "$PL/large.anthropic.json" ||
    { echo "tianshu (metering $m) does not answer through the fast upstream" >&2; exit 1; }
done

echo
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -r)"
echo "build: $BUILD ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)); load average now: $(cut -d' ' -f1-3 /proc/loadavg)"

paths=(direct); [[ $HAVE_NGINX == 1 ]] && paths+=(nginx); paths+=(on off)
declare -A NAME=([direct]="direct to the upstream" [nginx]="bare nginx proxy hop" [on]="Tianshu, metering on (default)" [off]="Tianshu, --metering off")
load() {  # load PATH SIZE OUTFILE ovh_load-options...
  local p=$1 size=$2 out=$3; shift 3
  local args=("$OUT/ovh_load" --label "$p-$size")
  case $p in
    direct) args+=(--port "$UP" --path /v1/chat/completions --body "$PL/$size.openai.json" --header "Authorization: Bearer sk-up") ;;
    nginx) args+=(--port "$NGX" --path /v1/chat/completions --body "$PL/$size.openai.json" --header "Authorization: Bearer sk-up") ;;
    on|off) args+=(--port "${PORT[$p]}" --path /v1/messages --body "$PL/$size.anthropic.json"
                   --header "x-api-key: ${KEY[$p]}" --header "anthropic-version: 2023-06-01") ;;
  esac
  "${args[@]}" "$@" >>"$out" 2>>"$out.err" || true
}
rotate() {  # rotate N ITEMS... -> the items rotated left by N
  local n=$1; shift; local a=("$@"); local k=$(( n % ${#a[@]} ))
  echo "${a[@]:k}" "${a[@]:0:k}"
}

PER_ROUND=$(( (REQUESTS + ROUNDS - 1) / ROUNDS ))
echo
echo "=== c=1: $ROUNDS rounds of $PER_ROUND sequential keep-alive requests per path and size ==="
echo "+ $OUT/ovh_load --port PORT --path PATH --body $PL/{small,large}.{openai,anthropic}.json --conns 1 --requests $PER_ROUND --warmup 20 --latencies FILE"
for r in $(seq 1 "$ROUNDS"); do
  for p in $(rotate "$r" "${paths[@]}"); do
    for size in small large; do
      load "$p" "$size" "$OUT/c1-$p-$size.txt" --conns 1 --requests "$PER_ROUND" --warmup 20 --duration 300 \
        --latencies "$OUT/c1-$p-$size.lat"
    done
  done
  echo "  round $r done (load average $(cut -d' ' -f1 /proc/loadavg))"
done

SECS=$(awk -v d="$DURATION_C64" -v r="$ROUNDS" 'BEGIN{printf "%.3g", d/r}')
echo
echo "=== c=64 small requests: $ROUNDS rounds of ${SECS} s per path ==="
echo "+ $OUT/ovh_load --port PORT --path PATH --body $PL/small.{openai,anthropic}.json --conns 64 --requests 0 --warmup 50 --duration $SECS"
for r in $(seq 1 "$ROUNDS"); do
  for p in $(rotate "$r" "${paths[@]}"); do
    load "$p" small "$OUT/c64-$p.txt" --conns 64 --requests 0 --warmup 50 --duration "$SECS"
  done
done

declare -A F
for p in "${paths[@]}"; do
  for size in small large; do
    read -r n p50 p99 p999 max < <(percentiles "$OUT/c1-$p-$size.lat")
    F[$p.$size.n]=$n; F[$p.$size.p50]=$p50; F[$p.$size.p99]=$p99; F[$p.$size.p999]=$p999; F[$p.$size.max]=$max
  done
  F[$p.rps]=$(sed -n 's/.* n=\([0-9]*\) .* secs=\([0-9.]*\) .*/\1 \2/p' "$OUT/c64-$p.txt" |
    awk '{n+=$1; s+=$2} END{ if (s>0) printf "%.0f", n/s; else print "nan" }')
  F[$p.errors]=$(cat "$OUT"/c1-$p-*.txt "$OUT/c64-$p.txt" | sed -n 's/.* errors=\([0-9]*\) .*non2xx=\([0-9]*\) .*/\1 \2/p' |
    awk '{e+=$1+$2} END{print e+0}')
done
sub() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="nan"||b=="nan") print "n/a"; else printf "%.0f", a-b }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="nan"||b=="nan"||b<=0) print "n/a"; else printf "%.2f", a/b }'; }
us() { awk -v a="$1" 'BEGIN{ if (a=="nan") print "n/a"; else printf "%.0f", a }'; }

echo
echo "=== the table (µs; c=1 over $REQUESTS requests per cell, c=64 req/s over ${DURATION_C64} s per path) ==="
printf '%-32s | %7s %7s %7s | %7s %7s %7s | %9s | %s\n' "path" "small" "" "" "75 KB" "" "" "c=64" "errors"
printf '%-32s | %7s %7s %7s | %7s %7s %7s | %9s |\n' "" "p50" "p99" "p99.9" "p50" "p99" "p99.9" "req/s"
for p in "${paths[@]}"; do
  printf '%-32s | %7s %7s %7s | %7s %7s %7s | %9s | %s\n' "${NAME[$p]}" \
    "$(us "${F[$p.small.p50]}")" "$(us "${F[$p.small.p99]}")" "$(us "${F[$p.small.p999]}")" \
    "$(us "${F[$p.large.p50]}")" "$(us "${F[$p.large.p99]}")" "$(us "${F[$p.large.p999]}")" "${F[$p.rps]}" "${F[$p.errors]}"
done
echo
echo "added over direct (same run):"
for p in "${paths[@]}"; do
  [[ $p == direct ]] && continue
  printf '%-32s | %7s %7s %7s | %7s %7s %7s |\n' "${NAME[$p]}" \
    "$(sub "${F[$p.small.p50]}" "${F[direct.small.p50]}")" "$(sub "${F[$p.small.p99]}" "${F[direct.small.p99]}")" \
    "$(sub "${F[$p.small.p999]}" "${F[direct.small.p999]}")" \
    "$(sub "${F[$p.large.p50]}" "${F[direct.large.p50]}")" "$(sub "${F[$p.large.p99]}" "${F[direct.large.p99]}")" \
    "$(sub "${F[$p.large.p999]}" "${F[direct.large.p999]}")"
done
echo
echo "targets (issue 13): added p99 small <= 150 us: $(sub "${F[on.small.p99]}" "${F[direct.small.p99]}");" \
  "added p99 75 KB <= 400 us: $(sub "${F[on.large.p99]}" "${F[direct.large.p99]}")"
echo "  metering on / off at p99: small $(div "${F[on.small.p99]}" "${F[off.small.p99]}")," \
  "75 KB $(div "${F[on.large.p99]}" "${F[off.large.p99]}") (<= 1.5)"
[[ $HAVE_NGINX == 1 ]] &&
  echo "  c=64 tianshu (metering on) / nginx: $(div "${F[on.rps]}" "${F[nginx.rps]}") (>= 0.8)"
echo "raw outputs: $OUT (every request's latency: c1-PATH-SIZE.lat); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
