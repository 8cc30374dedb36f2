#!/usr/bin/env bash
# Instructions per relayed request with telemetry on and off, counted by valgrind's
# callgrind (all threads: the access-log writer included). Deterministic where wrk's
# figures move with the VM. Each configuration runs twice (a short and a long load) and the
# difference is divided by the difference in requests, so start-up and shut-down cancel.
# Usage: BUILD=build bench/telemetry_instructions.sh [seconds]
# Loopback only; every process is started here and stopped on exit.
set -euo pipefail
BUILD=${BUILD:-build}
DUR=${1:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
command -v valgrind >/dev/null || { echo "valgrind is needed (Debian package valgrind)"; exit 1; }

source bench/lib.sh
start_mock

run_once() { # name telemetry-yaml seconds → sets N (requests) and IR (instructions)
  bench_config "$tmp/$1.yaml" "telemetry: $2"
  valgrind --tool=callgrind --callgrind-out-file="$tmp/$1.cg" \
    "$BUILD/switchyard" --config "$tmp/$1.yaml" --log-level warn >"$tmp/$1.out" 2>"$tmp/$1.err" &
  local pid=$!
  pids+=($pid)
  local port
  port=$(gateway_port "$tmp/$1.out" 600)
  BENCH_MODEL=bench wrk -t1 -c1 -d"${3}s" -s bench/post.lua "http://127.0.0.1:$port/v1/chat/completions" >"$tmp/$1.wrk"
  local n
  n=$(curl -s "http://127.0.0.1:$port/admin/usage?limit=1" -H 'authorization: Bearer bench-admin' |
    sed -n 's/.*"answers":\([0-9]*\).*/\1/p')
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  N=$n
  IR=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$tmp/$1.cg")
}

measure() { # name telemetry-yaml
  run_once "$1" "$2" 2
  local n1=$N ir1=$IR
  run_once "$1" "$2" "$DUR"
  printf "%-4s requests=%-6s+%-6s instructions per request=%s\n" "$1" "$n1" "$((N - n1))" \
    "$(((IR - ir1) / (N - n1)))"
}

measure off "{ metrics: false, access_log: off }"
measure on "{ metrics: true, access_log: $tmp/access.log }"
measure mon "{ metrics: true, access_log: off }"
