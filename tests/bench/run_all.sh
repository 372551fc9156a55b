#!/usr/bin/env bash
# Every benchmark, then one summary with each figure and the command that produced it.
#
#   bash tests/bench/run_all.sh BUILD_DIR        (`make bench` runs it on ./build)
#
# 1. builds what is missing (configures BUILD_DIR like the Makefile if it has no build.ninja);
# 2. bench_so_hook       — one pre-request hook through a .so plugin (C ABI), ns per call;
# 3. bench_lua_strategy  — one Lua strategy hook (on_request), ns per call;
#    bench_scenario_router — scenario_router's decision on the 75 KB Claude Code request, µs;
# 4. load_demo.sh        — wrk against a fresh gateway's demo chain at 2,000 and 64 connections;
# 5. dashboard/run.sh    — GET /admin/api/dashboard?range=30d over 5M log rows (rollups vs raw).
# 6. tls/run_tls_bench.sh — 2,000 slow streams to a TLS upstream vs plain http (SKIP_TLS=1 skips).
# Outputs are kept in BUILD_DIR/bench-results/. Figures are printed, never asserted.
# Environment: JOBS (build parallelism, default nproc), SKIP_LOAD=1 skips step 4,
# SKIP_DASHBOARD=1 skips step 5 (its fill takes minutes),
# DURATION etc. are passed through to load_demo.sh.
set -euo pipefail

BUILD=${1:?usage: run_all.sh BUILD_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
JOBS=${JOBS:-$(nproc)}

if [[ ! -f $BUILD/build.ninja ]]; then
  echo "+ cmake -S $ROOT -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
echo "+ cmake --build $BUILD -j $JOBS --target tianshu bench_so_hook bench_lua_strategy bench_scenario_router"
cmake --build "$BUILD" -j "$JOBS" --target tianshu bench_so_hook bench_lua_strategy bench_scenario_router
# The plugins the gateway loads at start-up (the demo chain needs them).
echo "+ cmake --build $BUILD -j $JOBS"
cmake --build "$BUILD" -j "$JOBS"
BUILD=$(cd "$BUILD" && pwd)
OUT=$BUILD/bench-results
mkdir -p "$OUT"

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt")
echo
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -r)"
echo "build: $BUILD ($build_type); load average now: $(cut -d' ' -f1-3 /proc/loadavg)"

declare -a SUMMARY=()
GB_FLAGS=(--benchmark_repetitions=3 --benchmark_report_aggregates_only=true)

run_gbench() {
  local exe=$1
  local cmd=("$BUILD/tests/bench/$exe" "${GB_FLAGS[@]}")
  echo
  echo "=== $exe ==="
  echo "command: ${cmd[*]}"
  "${cmd[@]}" | tee "$OUT/$exe.txt"
  # Aggregate rows look like: BM_name_median   12.3 ns   12.3 ns   3
  while read -r name time unit cpu cpu_unit _; do
    SUMMARY+=("$(printf '%-52s time %10s %-3s cpu %10s %-3s   # %s' "$name" "$time" "$unit" "$cpu" "$cpu_unit" "${cmd[*]}")")
  done < <(grep -E '_(median|mean) ' "$OUT/$exe.txt")
}

run_gbench bench_so_hook
run_gbench bench_lua_strategy
run_gbench bench_scenario_router

if [[ ${SKIP_LOAD:-0} != 1 ]]; then
  echo
  echo "=== load_demo.sh ==="
  echo "command: bash $ROOT/tests/bench/load_demo.sh $BUILD"
  bash "$ROOT/tests/bench/load_demo.sh" "$BUILD" | tee "$OUT/load_demo.txt"
  while read -r line; do SUMMARY+=("$line"); done < <(grep '^RESULT .*# ' "$OUT/load_demo.txt" | sed 's/^RESULT //')
fi

if [[ ${SKIP_OVERHEAD:-0} != 1 ]]; then
  echo
  echo "=== overhead/run_overhead.sh (direct vs nginx hop vs Tianshu, one run) ==="
  echo "command: bash $ROOT/tests/bench/overhead/run_overhead.sh $BUILD"
  bash "$ROOT/tests/bench/overhead/run_overhead.sh" "$BUILD" | tee "$OUT/overhead.txt"
fi

if [[ ${SKIP_METERING:-0} != 1 ]]; then
  echo
  echo "=== metering.sh (metering off vs on, MariaDB statements per request) ==="
  echo "command: bash $ROOT/tests/scripts/with_mariadb.sh bash $ROOT/tests/bench/metering.sh $BUILD"
  bash "$ROOT/tests/scripts/with_mariadb.sh" bash "$ROOT/tests/bench/metering.sh" "$BUILD" | tee "$OUT/metering.txt"
  while read -r line; do SUMMARY+=("$line"); done < <(grep '^SUMMARY' "$OUT/metering.txt")
fi

if [[ ${SKIP_DASHBOARD:-0} != 1 ]]; then
  echo
  echo "=== dashboard/run.sh (GET /dashboard?range=30d over 5M log rows: rollups vs raw rows) ==="
  echo "command: bash $ROOT/tests/bench/dashboard/run.sh $BUILD"
  cmake --build "$BUILD" -j "$JOBS" --target bench_dashboard_fill
  bash "$ROOT/tests/bench/dashboard/run.sh" "$BUILD" | tee "$OUT/dashboard.txt"
  while read -r line; do SUMMARY+=("$line"); done < <(grep '^RESULT .*# ' "$OUT/dashboard.txt" | sed 's/^RESULT //')
fi

if [[ ${SKIP_TLS:-0} != 1 ]]; then
  echo
  echo "=== tls/run_tls_bench.sh (2,000 slow streams to a TLS upstream beside plain http) ==="
  echo "command: bash $ROOT/tests/bench/tls/run_tls_bench.sh $BUILD"
  cmake --build "$BUILD" -j "$JOBS" --target tianshu load_streams
  bash "$ROOT/tests/bench/tls/run_tls_bench.sh" "$BUILD" | tee "$OUT/tls.txt"
  while read -r line; do SUMMARY+=("tls: $line"); done < <(sed -n '/^server peak\|^time to first/p' "$OUT/tls.txt")
fi

echo
echo "=== summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) shared cores: expect noise) ==="
printf '%s\n' "${SUMMARY[@]}"
echo "full outputs: $OUT"
