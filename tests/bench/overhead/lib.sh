# Shared by the overhead scripts (run_overhead.sh, ab_windows.sh, tail_table.sh): source it.
# Everything listens and connects on 127.0.0.1.

# wait_for FILE SED_EXPR [TENTHS (300)] -> prints the first capture, or nothing after the wait
wait_for() {
  local v=
  for _ in $(seq 1 "${3:-300}"); do v=$(sed -n "$2" "$1" 2>/dev/null | head -n1); [[ -n $v ]] && break; sleep 0.1; done
  echo "$v"
}

# build_bench_tools DIR -> DIR/fast_upstream, DIR/ovh_load, DIR/payloads/*
build_bench_tools() {
  local dir=$1 here t
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  for t in fast_upstream ovh_load; do
    echo "+ ${CXX:-g++} -std=c++20 -O2 -o $dir/$t $here/$t.cpp"
    "${CXX:-g++}" -std=c++20 -O2 -o "$dir/$t" "$here/$t.cpp"
  done
  echo "+ node $here/gen_payloads.js $dir/payloads"
  node "$here/gen_payloads.js" "$dir/payloads" >/dev/null
}

# start_fast_upstream DIR -> sets UP (port) and UP_PID; appends to PIDS
start_fast_upstream() {
  "$1/fast_upstream" --port 0 >"$1/upstream.out" 2>&1 &
  UP_PID=$!; PIDS+=($UP_PID)
  UP=$(wait_for "$1/upstream.out" 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p')
  [[ -n $UP ]] || { echo "fast_upstream did not start" >&2; exit 1; }
}

# start_tianshu_on_upstream BIN PLUGINS DATA LOG [serve options...]
#   -> sets TS (port), TS_PID and TS_KEY (the demo key of a first start); appends to PIDS.
#   A first start on DATA also adds channel 'up' -> the fast upstream (port $UP) for claude-*.
start_tianshu_on_upstream() {
  local bin=$1 plugins=$2 data=$3 log=$4; shift 4
  local first=0
  [[ -e $data ]] || first=1
  "$bin" serve --data "$data" --listen 127.0.0.1:0 --plugins-dir "$plugins" "$@" >"$log" 2>"$log.err" &
  TS_PID=$!; PIDS+=($TS_PID)
  TS=$(wait_for "$log" 's|.*is serving on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' 1200)
  [[ -n $TS ]] || { echo "tianshu ($bin) did not start:"; tail -n 20 "$log" "$log.err"; exit 1; } >&2
  if [[ $first == 1 ]]; then
    TS_KEY=$(grep -o 'sk-ts-[A-Za-z0-9_-]*' "$log" | head -n1)
    [[ -n $TS_KEY ]] || { echo "no demo API key printed on the first start of $data" >&2; exit 1; }
    "$bin" channel add --data "$data" --name up --type openai_compat --base-url "http://127.0.0.1:$UP/v1" \
      --key sk-up --models up-model --map 'claude-*=up-model' --plugins-dir "$plugins" >"$log.channel" 2>&1 ||
      { echo "channel add failed:"; cat "$log.channel"; exit 1; } >&2
  fi
}

# answers_through PORT KEY BODY: true once tianshu answers BODY through the fast upstream
# (a new channel reaches a running server within a second or two)
answers_through() {
  local _
  for _ in $(seq 1 100); do
    curl -s --max-time 10 "http://127.0.0.1:$1/v1/messages" -H "x-api-key: $2" -H 'content-type: application/json' \
      --data-binary @"$3" | grep -q '"stop_reason":"end_turn"' && return 0
    sleep 0.1
  done
  return 1
}

# percentiles FILE -> "n p50 p99 p99.9 max" of the latencies in FILE (one number a line)
percentiles() {
  sort -g "$1" | awk '{v[NR]=$1}
    function at(p) { i = int(p / 100 * (NR - 1) + 0.5) + 1; if (i > NR) i = NR; return v[i] }
    END { if (NR == 0) print "0 nan nan nan nan"; else printf "%d %.1f %.1f %.1f %.1f\n", NR, at(50), at(99), at(99.9), v[NR] }'
}
