#!/usr/bin/env bash
# Router decision time (issue 4): Google Benchmark of classify + views + rank + explain.
# Usage: bash bench/router.sh [extra Google Benchmark flags, e.g. --benchmark_filter=BM_Decision]
# Release build in build-bench/ (BUILD_BENCH to change it); nothing is left running.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD_BENCH=${BUILD_BENCH:-build-bench}
GEN=()
if command -v ninja >/dev/null 2>&1; then GEN=(-G Ninja); fi

cmake -S . -B "$BUILD_BENCH" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DSWITCHYARD_BENCH=ON -DSWITCHYARD_TESTS=OFF -DSWITCHYARD_SANITIZE=OFF >/dev/null
cmake --build "$BUILD_BENCH" --target switchyard_router_bench -j "$(nproc)"

echo "# $(nproc) cores, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD_BENCH/switchyard_router_bench" --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true "$@"
