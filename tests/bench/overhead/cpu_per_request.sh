#!/usr/bin/env bash
# The gateway's own CPU per request, which a busy shared machine disturbs far less than latency:
# `perf stat` counts the tianshu process's instructions and task-clock while N sequential
# keep-alive requests (c=1) go client --Anthropic--> tianshu (metering on) --OpenAI--> the fast
# upstream, for the small request and the ~75 KB Claude-Code-shaped one (24 tools).
#
#   bash tests/bench/overhead/cpu_per_request.sh BUILD_DIR
#
# Environment: REQUESTS (per size, default 5000), TIANSHU (binary, default BUILD_DIR/tianshu:
# point it at another build's binary to compare two versions with the same tools).
# Needs perf (linux-perf). Prints figures; asserts nothing.
set -euo pipefail

BUILD=${1:?usage: cpu_per_request.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
TIANSHU=${TIANSHU:-$BUILD/tianshu}
REQUESTS=${REQUESTS:-5000}
command -v perf >/dev/null || { echo "perf is needed (apt-get install linux-perf)" >&2; exit 1; }
command -v node >/dev/null || { echo "node is needed (payload generator)" >&2; exit 1; }

OUT=$BUILD/bench-results/cpu
rm -rf "$OUT"; mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tianshu-cpu.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

build_bench_tools "$OUT" >/dev/null
PL=$OUT/payloads
start_fast_upstream "$OUT"
start_tianshu_on_upstream "$TIANSHU" "$BUILD/plugins" "$WORK/data" "$WORK/tianshu.out"
answers_through "$TS" "$TS_KEY" "$PL/small.anthropic.json" || { echo "tianshu does not answer" >&2; exit 1; }

echo "tianshu: $TIANSHU; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s | %16s | %14s\n' size "instructions/req" "CPU µs/req (task-clock)"
for size in small large; do
  load=("$OUT/ovh_load" --port "$TS" --path /v1/messages --body "$PL/$size.anthropic.json"
        --header "x-api-key: $TS_KEY" --header "anthropic-version: 2023-06-01" --conns 1)
  "${load[@]}" --requests 200 --warmup 20 >/dev/null 2>&1
  echo "+ perf stat -x, -e instructions,task-clock -p TIANSHU_PID -- ovh_load --port PORT --path /v1/messages --body $PL/$size.anthropic.json --header 'x-api-key: KEY' --conns 1 --requests $REQUESTS" >&2
  perf stat -x, -e instructions,task-clock -p "$TS_PID" -o "$OUT/perf-$size.csv" -- \
    "${load[@]}" --requests "$REQUESTS" --warmup 0 >"$OUT/load-$size.out" 2>&1
  ins=$(awk -F, '$3=="instructions"{print $1}' "$OUT/perf-$size.csv")
  ms=$(awk -F, '$3=="task-clock"{print $1}' "$OUT/perf-$size.csv")
  # A VM without a PMU gives "<not supported>" for instructions: then only the task-clock.
  [[ $ins =~ ^[0-9.]+$ ]] && ins=$(printf '%.0f' "$(echo "$ins / $REQUESTS" | bc -l)") || ins="n/a"
  printf '%-8s | %16s | %14.1f\n' "$size" "$ins" "$(echo "$ms * 1000 / $REQUESTS" | bc -l)"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
