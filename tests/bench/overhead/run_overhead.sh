#!/usr/bin/env bash
# Gateway overhead, side by side in ONE run against the SAME fast fake upstream:
#   direct   client --OpenAI--> fast_upstream
#   nginx    client --OpenAI--> nginx proxy_pass (proxy_buffering off, keepalive upstream) --> fast_upstream
#   tianshu  client --Anthropic /v1/messages--> tianshu (channel openai_compat) --OpenAI--> fast_upstream
#
#   bash tests/bench/overhead/run_overhead.sh BUILD_DIR
#
# Figures (printed with the exact command that produced them; never asserted):
#   added latency at c=1, p50/p99, small and ~75 KB Claude-Code-shaped requests (X - direct);
#   throughput on small requests at c=64 (tianshu req/s / nginx req/s, median of alternating
#   rounds);
#   streaming: time to first token added (first content_block_delta vs first `data: {`) and
#   added time per SSE frame ((total_tianshu - total_direct) / 200 for a 200-chunk stream);
#   2,000 concurrent slow streams through a fresh tianshu: completeness and peak RSS (VmHWM);
#   optional: callgrind instructions per small request on the tianshu hot path.
# Needs: a built tianshu + plugins in BUILD_DIR, g++, node, nginx (apt-get install nginx; run
# here as a child process, never as a service), valgrind (optional).
# Environment: REQUESTS (c=1 timed requests per path, default 2000), DURATION_C64 (seconds per
# path at c=64, default 8), ROUNDS_C64 (the nginx and tianshu seconds are split into this many
# alternating rounds, default 4; the ratio is the median round's), SKIP_CALLGRIND=1,
# SKIP_NGINX=1, SKIP_2000=1.
# Everything listens and connects on 127.0.0.1; every process is bounded and stopped at exit.
# Outputs are kept in BUILD_DIR/bench-results/overhead/.
set -euo pipefail

BUILD=${1:?usage: run_overhead.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
TIANSHU=$BUILD/tianshu
PLUGINS=$BUILD/plugins
REQUESTS=${REQUESTS:-2000}
DURATION_C64=${DURATION_C64:-8}
ROUNDS_C64=${ROUNDS_C64:-4}
OUT=$BUILD/bench-results/overhead
[[ -x $TIANSHU ]] || { echo "$TIANSHU not found: cmake --build $BUILD --target tianshu openai_compat" >&2; exit 1; }
[[ -f $PLUGINS/adapters/openai_compat.so || -n $(find "$PLUGINS" -name 'openai_compat*.so' 2>/dev/null) ]] ||
  { echo "openai_compat plugin not built: cmake --build $BUILD --target openai_compat" >&2; exit 1; }
command -v node >/dev/null || { echo "node is needed (payload generator)" >&2; exit 1; }
HAVE_NGINX=1
if [[ ${SKIP_NGINX:-0} == 1 ]] || ! command -v nginx >/dev/null; then
  HAVE_NGINX=0; echo "nginx not installed (apt-get install nginx) or SKIP_NGINX=1: the nginx column is skipped"
fi

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
rm -rf "$OUT"; mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tianshu-overhead.XXXXXX")
PIDS=()
trap 'stop_pids; rm -rf "$WORK"' EXIT
stop_pid() {  # stop one process we started
  local p=$1
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

# ---- build the two small tools -------------------------------------------------------------
build_bench_tools "$OUT"
LOAD=$OUT/ovh_load
PL=$OUT/payloads

# ---- fast upstream -------------------------------------------------------------------------
start_fast_upstream "$OUT"
echo "fast upstream: 127.0.0.1:$UP (pid $UP_PID)"

# ---- nginx ---------------------------------------------------------------------------------
if [[ $HAVE_NGINX == 1 ]]; then
  start_nginx_hop "$OUT" "$WORK"
  echo "nginx: 127.0.0.1:$NGX"
fi

# ---- tianshu -------------------------------------------------------------------------------
DATA=$WORK/tianshu-data
start_tianshu() {  # start_tianshu LOGNAME [wrapper...]; sets TS_PID, TS
  local log=$WORK/$1.out; shift
  "$@" "$TIANSHU" serve --data "$DATA" --listen 127.0.0.1:0 --plugins-dir "$PLUGINS" >"$log" 2>"$log.err" &
  TS_PID=$!; PIDS+=($TS_PID)
  TS=$(wait_for "$log" 's|.*is serving on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' 1200)
  [[ -n $TS ]] || { echo "tianshu did not start:"; tail -n 20 "$log" "$log.err"; exit 1; } >&2
}
echo "+ $TIANSHU serve --data $DATA --listen 127.0.0.1:0 --plugins-dir $PLUGINS  (request log -> $WORK/tianshu.out.err)"
start_tianshu tianshu
KEY=$(grep -o 'sk-ts-[A-Za-z0-9_-]*' "$WORK/tianshu.out" | head -n1)
[[ -n $KEY ]] || { echo "no demo API key printed on first start" >&2; exit 1; }
CHANNEL_CMD=("$TIANSHU" channel add --data "$DATA" --name up --type openai_compat
  --base-url "http://127.0.0.1:$UP/v1" --key sk-up --models up-model --map 'claude-*=up-model'
  --plugins-dir "$PLUGINS")
echo "+ ${CHANNEL_CMD[*]}"
"${CHANNEL_CMD[@]}" >"$WORK/channel.out" 2>&1 || { cat "$WORK/channel.out"; exit 1; } >&2
# The running server picks the channel up within a second (config watcher).
ok=
for _ in $(seq 1 100); do
  if curl -s --max-time 5 "http://127.0.0.1:$TS/v1/messages" -H "x-api-key: $KEY" -H 'content-type: application/json' \
       --data-binary @"$PL/small.anthropic.json" | grep -q '"stop_reason":"end_turn"'; then ok=1; break; fi
  sleep 0.1
done
[[ -n $ok ]] || { echo "tianshu does not answer through the fast upstream:";
  curl -s "http://127.0.0.1:$TS/v1/messages" -H "x-api-key: $KEY" -H 'content-type: application/json' \
    --data-binary @"$PL/small.anthropic.json"; echo; exit 1; } >&2
# the big request must decode
curl -s --max-time 10 "http://127.0.0.1:$TS/v1/messages" -H "x-api-key: $KEY" -H 'content-type: application/json' \
  --data-binary @"$PL/large.anthropic.json" >"$WORK/large.check"
grep -q '"stop_reason":"end_turn"' "$WORK/large.check" || { echo "the 75 KB request fails through tianshu:"; head -c 600 "$WORK/large.check"; echo; exit 1; } >&2
echo "tianshu: 127.0.0.1:$TS (pid $TS_PID), channel 'up' -> fast upstream"

echo
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -r)"
echo "build: $BUILD ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt")); load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Note: every path asks the upstream the way its client asked (tianshu's default; a channel's"
echo "      always_stream option would make it stream and assemble instead)."

# ---- runners -------------------------------------------------------------------------------
declare -A R  # R[label.field] = value
declare -A CMD
run() {  # run LABEL PATH_KIND BODY [ovh_load options...]
  local label=$1 kind=$2 body=$3; shift 3
  local port path hdr=()
  case $kind in
    direct) port=$UP; path=/v1/chat/completions; hdr=(--header "Authorization: Bearer sk-up") ;;
    nginx) port=$NGX; path=/v1/chat/completions; hdr=(--header "Authorization: Bearer sk-up") ;;
    tianshu) port=$TS; path=/v1/messages; hdr=(--header "x-api-key: \$KEY" --header "anthropic-version: 2023-06-01") ;;
  esac
  local shown=("$LOAD" --label "$label" --port "$port" --path "$path" --body "$body" "${hdr[@]}" "$@")
  local real=("${shown[@]//\$KEY/$KEY}")
  CMD[$label]=$(quote "${shown[@]}")
  echo "+ ${CMD[$label]}"
  local line
  line=$("${real[@]}" 2>"$OUT/$label.err" | tee "$OUT/$label.txt" | grep '^RESULT' || true)
  echo "  $line"
  [[ -s $OUT/$label.err ]] && sed 's/^/  stderr: /' "$OUT/$label.err" | head -n 5
  for kv in ${line#RESULT }; do R[$label.${kv%%=*}]=${kv#*=}; done
}
quote() {  # shell-quote for display; $KEY stays a placeholder
  local out= a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then out+="$a "; else out+="\"$a\" "; fi
  done
  echo "${out% }"
}
paths=(direct); [[ $HAVE_NGINX == 1 ]] && paths+=(nginx); paths+=(tianshu)
body_for() { [[ $1 == tianshu ]] && echo "$PL/$2.anthropic.json" || echo "$PL/$2.openai.json"; }

echo; echo "=== c=1, $REQUESTS sequential keep-alive requests per path (50 untimed warm-up) ==="
for size in small large; do
  for p in "${paths[@]}"; do run "c1-$size-$p" "$p" "$(body_for "$p" "$size")" --conns 1 --requests "$REQUESTS" --warmup 50 --duration 120; done
done
echo; echo "=== streaming at c=1: 10-chunk stream (time to first token), 200-chunk stream (per frame) ==="
for p in "${paths[@]}"; do
  marker='data: {'; [[ $p == tianshu ]] && marker=content_block_delta
  run "ttft-$p" "$p" "$(body_for "$p" stream10)" --conns 1 --requests 1000 --warmup 50 --marker "$marker" --duration 120
  run "frames200-$p" "$p" "$(body_for "$p" stream200)" --conns 1 --requests 300 --warmup 20 --duration 120
done
# nginx and tianshu take turns in short rounds (order swapped every round) instead of one long
# window each: on a shared VM a slow stretch of seconds then lands on both paths, not on one.
ROUND_SECS=$(awk -v d="$DURATION_C64" -v r="$ROUNDS_C64" 'BEGIN{printf "%.3g", d/r}')
echo; echo "=== throughput: small requests, 64 connections; direct ${DURATION_C64}s, then nginx and" \
  "tianshu in $ROUNDS_C64 alternating rounds of ${ROUND_SECS}s ==="
c64() { run "$1" "$2" "$(body_for "$2" small)" --conns 64 --requests 0 --warmup 50 --duration "$3"; }
c64 c64-direct direct "$DURATION_C64"
turns=(); for p in "${paths[@]}"; do [[ $p != direct ]] && turns+=("$p"); done
ROUND_RATIOS=()
for r in $(seq 1 "$ROUNDS_C64"); do
  order=("${turns[@]}"); (( r % 2 == 0 )) && order=($(printf '%s\n' "${turns[@]}" | tac))
  for p in "${order[@]}"; do c64 "c64-$p-r$r" "$p" "$ROUND_SECS"; done
  [[ $HAVE_NGINX == 1 ]] &&
    ROUND_RATIOS+=("$(awk -v a="${R[c64-tianshu-r$r.rps]:-nan}" -v b="${R[c64-nginx-r$r.rps]:-nan}" \
      'BEGIN{ if (a=="nan"||b=="nan"||b==0) print "nan"; else printf "%.3f", a/b }')")
done
# A path's figure over its rounds: requests / seconds, errors summed, the median round's p50.
for p in "${turns[@]}"; do
  read -r n secs errs p50 p99 < <(for r in $(seq 1 "$ROUNDS_C64"); do
      echo "${R[c64-$p-r$r.n]:-0} ${R[c64-$p-r$r.secs]:-0} ${R[c64-$p-r$r.errors]:-0} ${R[c64-$p-r$r.lat_p50_us]:-nan} ${R[c64-$p-r$r.lat_p99_us]:-nan}"
    done | sort -k4 -g | awk '{n+=$1; s+=$2; e+=$3; p50[NR]=$4; if ($5>p99) p99=$5}
      END{printf "%d %.3f %d %s %s\n", n, s, e, p50[int((NR+1)/2)], p99}')
  R[c64-$p.n]=$n; R[c64-$p.errors]=$errs; R[c64-$p.lat_p50_us]=$p50; R[c64-$p.lat_p99_us]=$p99
  R[c64-$p.rps]=$(awk -v n="$n" -v s="$secs" 'BEGIN{ if (s>0) printf "%.0f", n/s; else print "nan" }')
  CMD[c64-$p]="${CMD[c64-$p-r1]} (x $ROUNDS_C64 rounds)"
done
median() { printf '%s\n' "$@" | grep -v -e nan -e '^$' | sort -g | awk '{v[NR]=$1} END{ if (NR==0) print "n/a";
  else if (NR%2) printf "%.2f", v[(NR+1)/2]; else printf "%.2f", (v[NR/2]+v[NR/2+1])/2 }'; }
RSS_STEADY=$(awk '/^VmHWM:/{printf "%.1f", $2/1024}' /proc/$TS_PID/status)

# ---- callgrind (optional) ------------------------------------------------------------------
IR_PER_REQ=
if [[ ${SKIP_CALLGRIND:-0} != 1 ]] && command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
  echo; echo "=== callgrind: instructions per small request (tianshu under valgrind) ==="
  stop_pid "$TS_PID"
  CG=$OUT/callgrind.out
  echo "+ valgrind --tool=callgrind --callgrind-out-file=$CG.%p $TIANSHU serve ... ; 50 warm-up; callgrind_control --zero; 200 requests; callgrind_control --dump"
  start_tianshu tianshu-callgrind valgrind --tool=callgrind --callgrind-out-file="$CG.%p"
  CG_PID=$TS_PID
  "$LOAD" --label cg-warm --port "$TS" --path /v1/messages --body "$PL/small.anthropic.json" \
    --header "x-api-key: $KEY" --conns 1 --requests 50 --warmup 0 --duration 120 >/dev/null 2>&1 || true
  timeout 60 callgrind_control --zero "$CG_PID" >/dev/null 2>&1 || true
  run cg-200 tianshu "$PL/small.anthropic.json" --conns 1 --requests 200 --warmup 0 --duration 120
  timeout 60 callgrind_control --dump=after-200 "$CG_PID" >/dev/null 2>&1 || true
  sleep 1
  dump=$(grep -l 'after-200' "$CG".* 2>/dev/null | head -n1 || true)
  if [[ -n $dump ]]; then
    ir=$(awk '/^(summary|totals):/{print $2; exit}' "$dump")
    [[ -n $ir ]] && IR_PER_REQ=$(( ir / 200 ))
    echo "  dump: $dump  total Ir after zero: ${ir:-?}  -> per request: ${IR_PER_REQ:-?}"
  fi
  stop_pid "$CG_PID"
  start_tianshu tianshu-2
fi

# ---- 2,000 concurrent streams through a fresh tianshu --------------------------------------
if [[ ${SKIP_2000:-0} != 1 ]]; then
  echo; echo "=== 2,000 concurrent streams (20 chunks, 100 ms apart, ~2 s each) through a fresh tianshu ==="
  stop_pid "$TS_PID"
  start_tianshu tianshu-2000
  curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$TS/v1/messages" -H "x-api-key: $KEY" \
    -H 'content-type: application/json' --data-binary @"$PL/small.anthropic.json" || true
  run streams2000-tianshu tianshu "$PL/stream_slow.anthropic.json" --conns 2000 --all-at-once --marker content_block_delta --duration 60
  RSS_2000=$(awk '/^VmHWM:/{printf "%.1f", $2/1024}' /proc/$TS_PID/status)
  THREADS_2000=$(awk '/^Threads:/{print $2}' /proc/$TS_PID/status)
fi

# ---- summary -------------------------------------------------------------------------------
f() { echo "${R[$1]:-nan}"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="nan"||b=="nan") print "n/a"; else printf "%.1f", a-b }'; }
div() { awk -v a="$1" -v b="$2" -v s="${3:-1}" 'BEGIN{ if (a=="nan"||b=="nan"||b==0) print "n/a"; else printf "%.2f", a/b/s }'; }
echo
echo "=== overhead summary (µs unless noted; each figure = (path) - direct, same run, same upstream) ==="
printf '%-58s %12s %12s   %s\n' "figure" "tianshu" "nginx" "target (tianshu)"
row() { printf '%-58s %12s %12s   %s\n' "$1" "$2" "$3" "$4"; }
for size in small large; do
  for q in p50 p99; do
    tgt=""; [[ $size == small && $q == p50 ]] && tgt="<= 150 us"; [[ $size == large && $q == p50 ]] && tgt="<= 1000 us"
    row "added latency c=1 $size ($q)" "$(sub "$(f c1-$size-tianshu.lat_${q}_us)" "$(f c1-$size-direct.lat_${q}_us)")" \
        "$(sub "$(f c1-$size-nginx.lat_${q}_us)" "$(f c1-$size-direct.lat_${q}_us)")" "$tgt"
  done
done
row "throughput c=64 small, req/s (direct $(f c64-direct.rps))" "$(f c64-tianshu.rps)" "$(f c64-nginx.rps)" ""
row "throughput ratio tianshu / nginx (median of $ROUNDS_C64 rounds)" "$(median "${ROUND_RATIOS[@]}")" "" ">= 0.5"
row "  the rounds' ratios: ${ROUND_RATIOS[*]:-n/a}" "" "" ""
row "  ratio of the summed req/s" "$(div "$(f c64-tianshu.rps)" "$(f c64-nginx.rps)")" "" ""
row "added time to first token (p50)" "$(sub "$(f ttft-tianshu.ttft_p50_us)" "$(f ttft-direct.ttft_p50_us)")" \
    "$(sub "$(f ttft-nginx.ttft_p50_us)" "$(f ttft-direct.ttft_p50_us)")" "<= 300 us"
row "added time to first token (p99)" "$(sub "$(f ttft-tianshu.ttft_p99_us)" "$(f ttft-direct.ttft_p99_us)")" \
    "$(sub "$(f ttft-nginx.ttft_p99_us)" "$(f ttft-direct.ttft_p99_us)")" ""
row "added time per SSE frame (p50 totals / 200)" \
    "$(div "$(sub "$(f frames200-tianshu.lat_p50_us)" "$(f frames200-direct.lat_p50_us)")" 200)" \
    "$(div "$(sub "$(f frames200-nginx.lat_p50_us)" "$(f frames200-direct.lat_p50_us)")" 200)" "<= 10 us"
if [[ ${SKIP_2000:-0} != 1 ]]; then
  row "2,000 streams: done / unfinished / errors" "$(f streams2000-tianshu.n)/$(f streams2000-tianshu.unfinished)/$(f streams2000-tianshu.errors)" "" "2000/0/0"
  row "2,000 streams: peak responses in progress at once" "$(f streams2000-tianshu.peak_in_progress)" "" ""
  row "2,000 streams: tianshu peak RSS (VmHWM), MiB" "${RSS_2000:-?}" "" "threads at end: ${THREADS_2000:-?}"
fi
row "tianshu peak RSS after the c=1/c=64 runs, MiB" "${RSS_STEADY:-?}" "" ""
[[ -n $IR_PER_REQ ]] && row "callgrind instructions per small request (whole process)" "$IR_PER_REQ" "" ""
echo
echo "raw figures (µs): p50/p99 per path"
for k in c1-small c1-large ttft frames200 c64; do
  for p in "${paths[@]}"; do
    l=$k-$p
    printf '  %-22s lat p50 %10s p99 %10s  ttft p50 %9s p99 %9s  rps %8s  n %6s err %s   # %s\n' "$l" \
      "$(f $l.lat_p50_us)" "$(f $l.lat_p99_us)" "$(f $l.ttft_p50_us)" "$(f $l.ttft_p99_us)" "$(f $l.rps)" "$(f $l.n)" "$(f $l.errors)" "${CMD[$l]:-}"
  done
done
[[ -n ${CMD[streams2000-tianshu]:-} ]] && echo "  streams2000-tianshu   # ${CMD[streams2000-tianshu]}"
[[ -n ${CMD[cg-200]:-} ]] && echo "  cg-200 (under callgrind) # ${CMD[cg-200]}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
