#!/usr/bin/env bash
# Dashboard benchmark: GET /admin/api/dashboard?range=30d over 5,000,000 request log rows.
#
#   bash tests/bench/dashboard/run.sh BUILD_DIR
#
# 1. bench_dashboard_fill writes ROWS request log rows spread over the last 30 days into a
#    throwaway SQLite store, through store::request_logs::record_usage (the journal writer's own
#    path, which keeps the hour and day rollups), and prints the row counts;
# 2. a real gateway serves that store; an admin logs in; curl times RUNS calls of
#    GET /admin/api/dashboard?range=30d (after 3 warm-up calls) on one keep-alive-free loop;
# 3. for contrast, bench_dashboard_fill raw times the same answer computed from the raw rows
#    (five GROUP BY scans of the 30 days), RAW_RUNS times.
# Prints p50/p99 of both. Asserts nothing. Knobs: ROWS (5000000), RUNS (50), RAW_RUNS (3),
# KEEP_DIR=DIR (fill DIR once and reuse it on later runs; default: a temp dir, removed).
# Outputs are kept in BUILD_DIR/bench-results/dashboard/.
set -euo pipefail

BUILD=${1:?usage: run.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../overhead/lib.sh
source "$HERE/../overhead/lib.sh"
ROWS=${ROWS:-5000000}
RUNS=${RUNS:-50}
RAW_RUNS=${RAW_RUNS:-3}
FILL=$BUILD/tests/bench/bench_dashboard_fill
OUT=$BUILD/bench-results/dashboard
for exe in "$BUILD/tianshu" "$FILL"; do
  [[ -x $exe ]] || { echo "$exe not found: cmake --build $BUILD --target tianshu bench_dashboard_fill" >&2; exit 1; }
done
mkdir -p "$OUT"

PIDS=()
if [[ -n ${KEEP_DIR:-} ]]; then
  WORK=$KEEP_DIR; mkdir -p "$WORK"
  trap 'stop_pids' EXIT
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/tianshu-dashboard.XXXXXX")
  trap 'stop_pids; rm -rf "$WORK"' EXIT
fi
DATA=$WORK/data
DB=sqlite://$DATA/tianshu.db
PASSWORD=bench-password-1

if [[ ! -f $WORK/filled ]]; then
  rm -rf "$DATA"; mkdir -p "$DATA"
  echo "+ $FILL fill --db $DB --rows $ROWS --days 30"
  "$FILL" fill --db "$DB" --rows "$ROWS" --days 30 | tee "$OUT/fill.txt"
  echo "$PASSWORD" | "$BUILD/tianshu" user add --data "$DATA" --name ops --role admin --password-stdin >/dev/null
  touch "$WORK/filled"
else
  echo "reusing the store filled in $WORK"
fi

"$BUILD/tianshu" serve --data "$DATA" --listen 127.0.0.1:0 --plugins-dir "$BUILD/plugins" \
  >"$OUT/tianshu.out" 2>"$OUT/tianshu.err" &
PIDS+=($!)
PORT=$(wait_for "$OUT/tianshu.out" 's|.*is serving on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' 1200)
[[ -n $PORT ]] || { echo "tianshu did not start:"; tail -n 20 "$OUT/tianshu.out" "$OUT/tianshu.err"; exit 1; } >&2
BASE=http://127.0.0.1:$PORT/admin/api
TOKEN=$(curl -s "$BASE/login" -H 'content-type: application/json' \
  -d "{\"name\":\"ops\",\"password\":\"$PASSWORD\"}" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[[ -n $TOKEN ]] || { echo "admin login failed" >&2; exit 1; }

URL="$BASE/dashboard?range=30d"
for _ in 1 2 3; do curl -s -o "$OUT/dashboard.json" -H "Authorization: Bearer $TOKEN" "$URL"; done
requests=$(sed -n 's/.*"totals":{[^}]*"requests":\([0-9]*\).*/\1/p' "$OUT/dashboard.json")
echo "GET $URL answers totals.requests = $requests"
: >"$OUT/dashboard.ms"
for _ in $(seq 1 "$RUNS"); do
  curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" "$URL" |
    awk '{ printf "%.2f\n", $1 * 1000 }' >>"$OUT/dashboard.ms"
done
read -r n p50 p99 _ max < <(percentiles "$OUT/dashboard.ms")

echo "+ $FILL raw --db $DB --days 30 --runs $RAW_RUNS"
"$FILL" raw --db "$DB" --days 30 --runs "$RAW_RUNS" | tee "$OUT/raw.txt"
read -r raw_p50 raw_p99 < <(sed -n 's/^RAW .*p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms/\1 \2/p' "$OUT/raw.txt")

echo
echo "RESULT dashboard 30d over $requests log rows: rollups p50 ${p50} ms p99 ${p99} ms (max ${max}, $n runs) | raw rows p50 ${raw_p50} ms p99 ${raw_p99} ms ($RAW_RUNS runs)  # bash tests/bench/dashboard/run.sh $BUILD"
