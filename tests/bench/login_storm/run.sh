#!/usr/bin/env bash
# Login storm benchmark: does a flood of wrong-password admin logins slow the model path?
#
#   bash tests/bench/login_storm/run.sh BUILD_DIR
#
# One tianshu (default settings) with a channel to the fast fake upstream
# (../overhead/fast_upstream.cpp). The model path is measured at c=1 (POST /v1/messages, small
# Anthropic request, one keep-alive connection) in interleaved windows: without the storm and
# with it, "quiet" first in odd rounds and "storm" first in even ones, so a slow stretch of the
# machine lands on both. The storm: POST /admin/api/login with random names and a wrong password
# from 50 loopback addresses (127.0.0.2 ... 127.0.0.51, two connections each), paced to
# STORM_RATE attempts a second in all; each storm window starts 1 s before the probe.
# Prints p50 / p99 / p99.9 of both, the ratio of the p99s (target: storm p99 <= 1.2x quiet p99),
# and how the logins were answered (401: checked; 429: over a login limit; 503: the password
# queue was full). Asserts nothing.
#
# Knobs: ROUNDS (6), WINDOW (seconds per window, 5), STORM_RATE (attempts/s, 200),
# TIANSHU_BIN (default BUILD_DIR/tianshu, e.g. an older build to compare), SERVE_FLAGS (extra
# flags for serve). Needs g++, node, the openai_compat plugin. Outputs are kept in
# BUILD_DIR/bench-results/login_storm/.
set -euo pipefail

BUILD=${1:?usage: run.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../overhead/lib.sh
source "$HERE/../overhead/lib.sh"
TIANSHU=${TIANSHU_BIN:-$BUILD/tianshu}
PLUGINS=$BUILD/plugins
ROUNDS=${ROUNDS:-6}
WINDOW=${WINDOW:-5}
STORM_RATE=${STORM_RATE:-200}
SERVE_FLAGS=${SERVE_FLAGS:-}
OUT=$BUILD/bench-results/login_storm
[[ -x $TIANSHU ]] || { echo "$TIANSHU not found: cmake --build $BUILD --target tianshu openai_compat" >&2; exit 1; }
mkdir -p "$OUT"
rm -f "$OUT"/*.us "$OUT"/storm-*.txt "$OUT"/probe.txt

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tianshu-login-storm.XXXXXX")
PIDS=()
trap 'stop_pids; rm -rf "$WORK"' EXIT

build_bench_tools "$WORK" >/dev/null
g++ -std=c++20 -O2 -pthread -o "$WORK/storm_client" "$HERE/storm_client.cpp"
start_fast_upstream "$WORK"
# The server's log goes to $OUT/tianshu.err.
read -r -a serve_flags <<<"$SERVE_FLAGS"
start_tianshu_on_upstream "$TIANSHU" "$PLUGINS" "$WORK/data" "$OUT/tianshu" "${serve_flags[@]}"
PORT=$TS KEY=$TS_KEY
answers_through "$PORT" "$KEY" "$WORK/payloads/small.anthropic.json" ||
  { echo "tianshu does not answer through the fast upstream" >&2; exit 1; }

probe() {  # probe FILE
  "$WORK/storm_client" probe --port "$PORT" --body "$WORK/payloads/small.anthropic.json" \
    --key "$KEY" --seconds "$WINDOW" --out "$1" 2>>"$OUT/probe.txt"
}
storm_window() {  # storm_window ROUND: the storm around one probe window
  "$WORK/storm_client" storm --port "$PORT" --first 2 --last 51 --conns-per-address 2 \
    --rate "$STORM_RATE" --seconds "$(awk -v w="$WINDOW" 'BEGIN { print w + 1.5 }')" \
    >"$OUT/storm-$1.txt" &
  local storm=$!
  sleep 1
  probe "$OUT/storm-$1.us"
  wait "$storm"
}
quiet_window() { probe "$OUT/quiet-$1.us"; }

probe "$WORK/warmup.us"  # warm-up: connections to the upstream, caches
grep -q 'non200=0$' "$OUT/probe.txt" || { echo "the model path does not answer 200: $(cat "$OUT/probe.txt")" >&2; exit 1; }
echo "tianshu: $TIANSHU (port $PORT), $ROUNDS rounds of ${WINDOW} s windows, storm $STORM_RATE logins/s from 127.0.0.2-51"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 1 "$ROUNDS"); do
  if (( i % 2 )); then quiet_window "$i" 2>/dev/null; storm_window "$i" 2>/dev/null
  else storm_window "$i" 2>/dev/null; quiet_window "$i" 2>/dev/null; fi
  echo "round $i: $(cat "$OUT/storm-$i.txt")"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

percentiles() {  # percentiles FILES... -> "n p50 p99 p99.9" in µs
  cat "$@" | sort -n | awk '{ v[NR] = $1 }
    function at(q) { i = int(q * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] }
    END { printf "%d %d %d %d\n", NR, at(0.50), at(0.99), at(0.999) }'
}
read -r qn q50 q99 q999 < <(percentiles "$OUT"/quiet-*.us)
read -r sn s50 s99 s999 < <(percentiles "$OUT"/storm-*.us)
echo
echo "model path, c=1, small /v1/messages via the fast upstream (µs):"
printf '  %-9s n=%-7s p50=%-6s p99=%-6s p99.9=%s\n' quiet "$qn" "$q50" "$q99" "$q999" storm "$sn" "$s50" "$s99" "$s999"
awk -v q="$q99" -v s="$s99" 'BEGIN { printf "  storm p99 / quiet p99 = %.2f (target <= 1.2)\n", s / q }'
cat "$OUT"/storm-*.txt | awk '{ for (i = 2; i <= NF; ++i) { split($i, kv, "="); t[kv[1]] += kv[2] } }
  END { printf "logins: sent %d, answered %d: 401 (checked) %d, 429 (login limit) %d, 503 (queue full) %d, 201 %d, other %d; errors %d\n",
        t["sent"], t["answered"], t["s401"], t["s429"], t["s503"], t["s201"], t["other"], t["errors"] }'
echo "command: ROUNDS=$ROUNDS WINDOW=$WINDOW STORM_RATE=$STORM_RATE${TIANSHU_BIN:+ TIANSHU_BIN=$TIANSHU_BIN}${SERVE_FLAGS:+ SERVE_FLAGS='$SERVE_FLAGS'} bash tests/bench/login_storm/run.sh $BUILD"
