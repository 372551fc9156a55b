# throwaway_server.sh — sourced by with_mariadb.sh and with_redis.sh: what starting a
# throwaway server on loopback takes besides the server's own flags. The sourcing script sets
# log() first and TMP_PREFIX ("tianshu-redis"); afterwards it has TMP (removed at exit),
# SERVER_PID and WATCHDOG_PID (stopped at exit), find_tool, install_package and port_in_use.

# The first of the named tools on PATH or in the sbin/bin folders, or failure.
find_tool() {
  local name
  for name in "$@"; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
    for dir in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
      if [[ -x "$dir/$name" ]]; then echo "$dir/$name"; return 0; fi
    done
  done
  return 1
}

# apt-get install PACKAGES (with sudo when not root), for a server the machine lacks.
install_package() {
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/${TMP_PREFIX:?set TMP_PREFIX before sourcing}.XXXXXX")
SERVER_PID=""
WATCHDOG_PID=""
STOP_TRIES=${STOP_TRIES:-100}  # tenths of a second a server gets to stop before SIGKILL

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 "$STOP_TRIES"); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}

cleanup() {
  local status=$?
  stop_server
  if [[ -n "$WATCHDOG_PID" ]]; then kill "$WATCHDOG_PID" 2>/dev/null || true; wait "$WATCHDOG_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
