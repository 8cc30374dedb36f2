#!/usr/bin/env bash
# What metrics and the access log cost per request: the same gateway (1 worker) in front
# of the same mock, with telemetry on (metrics + JSON access log to a file) and off
# (telemetry.metrics: false, access_log: off), runs interleaved so VM noise hits both.
# Usage: BUILD=build bench/telemetry.sh [duration_seconds] [rounds]
# Loopback only; every process is started here and stopped on exit.
set -euo pipefail
BUILD=${BUILD:-build}
DUR=${1:-10}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/install-deps.sh >/dev/null

source bench/lib.sh
start_mock

start_gw() { start_gateway "$1" "$BUILD/switchyard" "telemetry: $2"; }  # name telemetry-yaml
# ON_TELEMETRY / OFF_TELEMETRY override the two sides (to measure one part alone).
start_gw on "${ON_TELEMETRY:-{ metrics: true, access_log: $tmp/access.log \}}"
ON=$PORT
start_gw off "${OFF_TELEMETRY:-{ metrics: false, access_log: off \}}"
OFF=$PORT

run() { # name port conns
  BENCH_MODEL=bench wrk -t1 -c"$3" -d"${DUR}s" --latency -s bench/post.lua \
    "http://127.0.0.1:$2/v1/chat/completions" >"$tmp/$1.txt"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/{print $2}' "$tmp/$1.txt")
  p50=$(awk '$1=="50%"{print $2}' "$tmp/$1.txt")
  p99=$(awk '$1=="99%"{print $2}' "$tmp/$1.txt")
  printf "%-16s c=%-3s rps=%-10s p50=%-9s p99=%s\n" "$1" "$3" "$rps" "$p50" "$p99"
  grep -q "Non-2xx" "$tmp/$1.txt" && { echo "non-2xx answers in $1"; grep -A1 Non-2xx "$tmp/$1.txt"; }
  return 0
}

echo "wrk $DUR s per run, $ROUNDS rounds, $(nproc) cores, $(uname -r)"
for r in $(seq "$ROUNDS"); do
  run "on-c1-r$r" "$ON" 1
  run "off-c1-r$r" "$OFF" 1
  run "on-c64-r$r" "$ON" 64
  run "off-c64-r$r" "$OFF" 64
done
[ -f "$tmp/access.log" ] && echo "access log lines written: $(wc -l <"$tmp/access.log")"
curl -s "http://127.0.0.1:$ON/metrics" | grep '^switchyard_requests_total' || true
