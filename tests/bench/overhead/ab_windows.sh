#!/usr/bin/env bash
# A/B windows: is tianshu binary B faster than binary A at c=64? The two run side by side, each
# with its own data dir, against one fast fake upstream; small requests over 64 connections go to
# one and then the other in short windows, A first in odd rounds and B first in even ones, so a
# slow stretch of this machine lands on both. Effects of a few percent are below the noise of a
# single overhead run (its tianshu / nginx ratio moves by ±0.1 from run to run), not of this.
#
#   bash tests/bench/overhead/ab_windows.sh BIN_A BIN_B [ROUNDS (12)] [SECONDS_PER_WINDOW (2)]
#
# e.g. A = a copy of build/tianshu from the parent commit, B = build/tianshu. Plugins come from
# PLUGINS_DIR (default: plugins/ beside BIN_B). Prints every round, then B/A of the summed req/s
# in each order and their geometric mean (the estimate of B/A).
set -euo pipefail

A=${1:?usage: ab_windows.sh BIN_A BIN_B [ROUNDS] [SECONDS]}
B=${2:?usage: ab_windows.sh BIN_A BIN_B [ROUNDS] [SECONDS]}
ROUNDS=${3:-12}
WINDOW=${4:-2}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
PLUGINS=${PLUGINS_DIR:-$(cd "$(dirname "$B")" && pwd)/plugins}
for bin in "$A" "$B"; do [[ -x $bin ]] || { echo "$bin is not an executable tianshu" >&2; exit 1; }; done
[[ -d $PLUGINS ]] || { echo "no plugins dir $PLUGINS (set PLUGINS_DIR)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tianshu-ab.XXXXXX")
PIDS=()
trap 'stop_pids; rm -rf "$WORK"' EXIT
build_bench_tools "$WORK" >/dev/null
start_fast_upstream "$WORK"

declare -A PORT KEY
for side in A B; do
  start_tianshu_on_upstream "${!side}" "$PLUGINS" "$WORK/data-$side" "$WORK/$side.out"
  PORT[$side]=$TS; KEY[$side]=$TS_KEY
  answers_through "$TS" "$TS_KEY" "$WORK/payloads/small.anthropic.json" ||
    { echo "tianshu $side (${!side}) does not answer through the fast upstream" >&2; exit 1; }
done

window() {  # window SIDE -> req/s
  "$WORK/ovh_load" --label "ab-$1" --port "${PORT[$1]}" --path /v1/messages \
    --body "$WORK/payloads/small.anthropic.json" --header "x-api-key: ${KEY[$1]}" \
    --conns 64 --requests 0 --warmup 50 --duration "$WINDOW" | sed -n 's/.* rps=\([0-9.]*\).*/\1/p' || true
}
for side in A B; do
  r=$(window $side)
  [[ -n $r ]] || { echo "tianshu $side does not answer through the fast upstream" >&2; exit 1; }
done

echo "A: $A"
echo "B: $B"
echo "c=64 small requests, $ROUNDS rounds of one ${WINDOW} s window each (req/s)"
results=()
for i in $(seq 1 "$ROUNDS"); do
  if (( i % 2 )); then a=$(window A); b=$(window B); first=A; else b=$(window B); a=$(window A); first=B; fi
  [[ -n $a && -n $b ]] || { echo "round $i: a window gave no figure (is a server down?)" >&2; exit 1; }
  awk -v i="$i" -v f="$first" -v a="$a" -v b="$b" \
    'BEGIN { printf "round %2d (%s first): A %8.0f  B %8.0f  B/A %.3f\n", i, f, a, b, b / a }'
  results+=("$first $a $b")
done
printf '%s\n' "${results[@]}" | awk '
  { a[$1] += $2; b[$1] += $3 }
  END { r1 = b["A"] / a["A"]; r2 = ("B" in a) ? b["B"] / a["B"] : r1
        printf "B/A, A first: %.3f   B first: %.3f   geometric mean: %.3f\n", r1, r2, sqrt(r1 * r2) }'
