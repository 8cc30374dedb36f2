#!/usr/bin/env bash
# Two builds of the gateway side by side — before and after a change — in front of the same
# mock, one worker each, runs interleaved (A, B, A, B …) so VM noise hits both; prints each
# run and the median requests/s and p50/p99 per side and concurrency.
# Usage: BUILD_A=../before/build BUILD_B=build bench/compare.sh [seconds] [rounds] [conns…]
#        (default 10 s, 3 rounds, c=1 and c=64; the mock comes from BUILD_B)
# Loopback only; every process is started here and stopped on exit.
set -euo pipefail
BUILD_A=${BUILD_A:?set BUILD_A to the build folder of the "before" side}
BUILD_B=${BUILD_B:-build}
DUR=${1:-10}
ROUNDS=${2:-3}
CONNS=(1 64)
if [ $# -gt 2 ]; then CONNS=("${@:3}"); fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=$BUILD_B
source bench/lib.sh
start_mock

start_gw() { start_gateway "$1" "$2/switchyard" "telemetry: { metrics: true, access_log: off }"; }
start_gw a "$BUILD_A"
A=$PORT
start_gw b "$BUILD_B"
B=$PORT

run() { # side port conns round
  BENCH_MODEL=bench wrk -t1 -c"$3" -d"${DUR}s" --latency -s bench/post.lua \
    "http://127.0.0.1:$2/v1/chat/completions" >"$tmp/$1-$3-$4.txt"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/{print $2}' "$tmp/$1-$3-$4.txt")
  p50=$(awk '$1=="50%"{print $2}' "$tmp/$1-$3-$4.txt")
  p99=$(awk '$1=="99%"{print $2}' "$tmp/$1-$3-$4.txt")
  printf "%s c=%-3s r%s rps=%-10s p50=%-9s p99=%s\n" "$1" "$3" "$4" "$rps" "$p50" "$p99"
  echo "$1 $3 $rps $p50 $p99" >>"$tmp/all.txt"
  if grep -q "Non-2xx" "$tmp/$1-$3-$4.txt"; then echo "non-2xx answers in $1 c=$3"; fi
}

echo "wrk $DUR s per run, $ROUNDS rounds, $(nproc) cores; A=$BUILD_A B=$BUILD_B"
for r in $(seq "$ROUNDS"); do
  for c in "${CONNS[@]}"; do
    run A "$A" "$c" "$r"
    run B "$B" "$c" "$r"
  done
done
echo "medians:"
for c in "${CONNS[@]}"; do
  for side in A B; do
    awk -v s="$side" -v c="$c" '$1==s && $2==c {print $3}' "$tmp/all.txt" | sort -n |
      awk -v s="$side" -v c="$c" '{v[NR]=$1} END {printf "%s c=%-3s rps=%s\n", s, c, v[int((NR+1)/2)]}'
  done
done
