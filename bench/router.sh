#!/usr/bin/env bash
# Router decision time (issue 4): Google Benchmark of features + classify + views + rank +
# explain, the whole decision and each part (see bench/router_benchmark.cpp).
# Usage: bash bench/router.sh [extra Google Benchmark flags, e.g. --benchmark_filter=BM_Decision]
# Release build in build-bench/ (BUILD_BENCH to change it). The run is pinned to CPU
# $BENCH_CPU (default 0; BENCH_CPU= to not pin): on a shared VM the vCPUs can differ in
# speed by 1.5x, and an unpinned run mixes them. Nothing is left running.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD_BENCH=${BUILD_BENCH:-build-bench}
BENCH_CPU=${BENCH_CPU-0}
GEN=()
if command -v ninja >/dev/null 2>&1; then GEN=(-G Ninja); fi

cmake -S . -B "$BUILD_BENCH" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DSWITCHYARD_BENCH=ON -DSWITCHYARD_TESTS=OFF -DSWITCHYARD_SANITIZE=OFF >/dev/null
cmake --build "$BUILD_BENCH" --target switchyard_router_bench -j "$(nproc)"

PIN=()
if [ -n "$BENCH_CPU" ] && command -v taskset >/dev/null 2>&1; then PIN=(taskset -c "$BENCH_CPU"); fi
echo "# $(nproc) cores, $(uname -r), pinned to CPU ${BENCH_CPU:-none}," \
  "load: $(cut -d' ' -f1-3 /proc/loadavg)"
"${PIN[@]}" "$BUILD_BENCH/switchyard_router_bench" --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true "$@"
