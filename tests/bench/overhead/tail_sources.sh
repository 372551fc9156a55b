#!/usr/bin/env bash
# Where the c=1 tail comes from: do slow requests coincide with the usage journal's work?
#
#   bash tests/bench/overhead/tail_sources.sh BUILD_DIR
#
# Two tianshu side by side against one fast upstream, both metering on and logging at debug level
# (the journal then logs each batch's timings on the steady clock): one with the journal's
# background work at normal priority (`--journal-priority normal`, as before issue 13), one at
# idle priority (the default). Small requests at c=1 go to one and then the other in ROUNDS
# rounds; each request's end and latency are kept on the same clock (ovh_load --timeline).
# For each side it prints, for each step of a batch (open: a new file and the swap; close: the
# old files; write: the database transactions; remove: deleting files now in the database): the
# share of the run's time inside that step's windows, the share of all requests that overlap a window, and the share of
# the slow requests (over SLOW_US) that do. A window that causes slow requests holds a larger
# share of them than of all requests (the "concentration"); noise of the machine does not.
# Environment: REQUESTS per side and round (default 10000), ROUNDS (default 4), SLOW_US (500).
# Prints figures; asserts nothing.
set -euo pipefail

BUILD=${1:?usage: tail_sources.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
TIANSHU=${TIANSHU:-$BUILD/tianshu}
PLUGINS=$BUILD/plugins
REQUESTS=${REQUESTS:-10000}
ROUNDS=${ROUNDS:-4}
SLOW_US=${SLOW_US:-500}
[[ -x $TIANSHU ]] || { echo "$TIANSHU not found: cmake --build $BUILD --target tianshu openai_compat" >&2; exit 1; }

OUT=$BUILD/bench-results/tail-sources
rm -rf "$OUT"; mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tianshu-sources.XXXXXX")
PIDS=()
trap 'stop_pids; rm -rf "$WORK"' EXIT

build_bench_tools "$OUT"
start_fast_upstream "$OUT"
declare -A PORT KEY LOG
for side in normal idle; do
  echo "+ $TIANSHU serve --data DATA --listen 127.0.0.1:0 --plugins-dir $PLUGINS --log-level debug --journal-priority $side"
  start_tianshu_on_upstream "$TIANSHU" "$PLUGINS" "$WORK/data-$side" "$WORK/$side.out" \
    --log-level debug --journal-priority "$side"
  PORT[$side]=$TS; KEY[$side]=$TS_KEY; LOG[$side]=$WORK/$side.out.err
  answers_through "$TS" "$TS_KEY" "$OUT/payloads/small.anthropic.json" ||
    { echo "tianshu ($side) does not answer through the fast upstream" >&2; exit 1; }
done
echo "machine: $(nproc) cores, $(uname -r); load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "+ $OUT/ovh_load --port PORT --path /v1/messages --body $OUT/payloads/small.anthropic.json --conns 1 --requests $REQUESTS --warmup 20 --timeline FILE   (x $ROUNDS rounds per side, alternating)"
for r in $(seq 1 "$ROUNDS"); do
  order=(normal idle); (( r % 2 == 0 )) && order=(idle normal)
  for side in "${order[@]}"; do
    "$OUT/ovh_load" --label "$side" --port "${PORT[$side]}" --path /v1/messages \
      --body "$OUT/payloads/small.anthropic.json" --header "x-api-key: ${KEY[$side]}" \
      --conns 1 --requests "$REQUESTS" --warmup 20 --duration 300 --timeline "$OUT/$side.timeline" >/dev/null
  done
done
sleep 1  # the last batch's line
for side in normal idle; do
  # close_from_us, write_from_us, write_to_us of every batch
  # open_from close_from write_from remove_from done of every batch (keys are in sorted order)
  grep '"msg":"usage batch written"' "${LOG[$side]}" |
    sed -n 's/.*"close_from_us":\([0-9]*\).*"done_us":\([0-9]*\).*"open_from_us":\([0-9]*\).*"remove_from_us":\([0-9]*\).*"write_from_us":\([0-9]*\).*/\3 \1 \5 \4 \2/p' \
      >"$OUT/$side.windows" || true
  [[ -s $OUT/$side.windows ]] || { echo "no 'usage batch written' debug lines in ${LOG[$side]}" >&2; exit 1; }
done

echo
printf '%-28s %8s %8s %8s | %-7s %7s %9s %9s %13s\n' "journal priority" "p50" "p99" "p99.9" "window" "time" "requests" "slow" "concentration"
for side in normal idle; do
  cut -d' ' -f2 "$OUT/$side.timeline" >"$OUT/$side.lat"
  read -r _ p50 p99 p999 _ < <(percentiles "$OUT/$side.lat")
  for w in 1:open 2:close 3:write 4:remove; do
    col=${w%%:*}; w=${w#*:}
    # Both files sorted by time; one pass: a request [end-lat, end] overlaps a window [a, b).
    stats=$(awk -v c="$col" -v slow="$SLOW_US" '
      NR == FNR { a[NR] = $c; b[NR] = $(c + 1); n = NR; next }
      { end = $1; start = $1 - $2; req++; if ($2 > slow) s++
        if (first == "") first = start; last = end
        while (k < n && b[k + 1] <= start) k++
        if (k < n && a[k + 1] < end) { inreq++; if ($2 > slow) ins++ } }
      END { for (i = 1; i <= n; i++) { lo = a[i] < first ? first : a[i]; hi = b[i] > last ? last : b[i]; if (hi > lo) cov += hi - lo }
            span = last - first; if (span <= 0) span = 1
            printf "%.1f%% %.1f%% %.1f%% %s %d", 100 * cov / span, 100 * inreq / req, s ? 100 * ins / s : 0,
              (inreq && s) ? sprintf("%.1fx", (ins / s) / (inreq / req)) : "n/a", s }
    ' <(sort -n "$OUT/$side.windows") <(sort -n "$OUT/$side.timeline"))
    read -r tshare rshare sshare conc nslow <<<"$stats"
    printf '%-28s %8s %8s %8s | %-7s %7s %9s %9s %13s\n' "$side ($nslow over ${SLOW_US} us)" "$p50" "$p99" "$p999" "$w" "$tshare" "$rshare" "$sshare" "$conc"
  done
done
echo
echo "time: the share of the run inside the journal's windows; requests: of all requests, those"
echo "overlapping one; slow: of the requests over ${SLOW_US} us, those overlapping one; concentration ="
echo "slow / requests (1.0x: the windows are no more likely than elsewhere to hold a slow request)."
echo "raw: $OUT; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
