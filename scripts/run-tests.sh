#!/usr/bin/env bash
# Runs every test suite against the binaries in $BUILD and prints one summary line.
# Exit status is non-zero if anything failed.
set -uo pipefail
BUILD=${BUILD:-build-test}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export SWITCHYARD_BIN="$ROOT/$BUILD/switchyard"
export SWITCHYARD_MOCK_BIN="$ROOT/$BUILD/switchyard-mock"
# ASan: leaks are reported at exit of the test processes; UBSan aborts on error.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
LOGDIR="$ROOT/$BUILD/test-logs"
mkdir -p "$LOGDIR"

start=$(date +%s)
echo "== unit tests (ctest)"
ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)" 2>&1 | tee "$LOGDIR/ctest.log"
unit_total=$(grep -Eo 'tests failed out of [0-9]+' "$LOGDIR/ctest.log" | grep -Eo '[0-9]+$' || echo 0)
unit_failed=$(grep -Eo '[0-9]+ tests failed out of' "$LOGDIR/ctest.log" | grep -Eo '^[0-9]+' || echo 0)
unit_total=${unit_total:-0}; unit_failed=${unit_failed:-0}
unit_passed=$((unit_total - unit_failed))
if [ "$unit_total" = 0 ]; then unit_failed=1; echo "no unit tests ran"; fi

echo "== integration and SDK tests (node --test)"
files=(tests/integration/*.test.mjs)
[ -d tests/sdk ] && files+=(tests/sdk/*.test.mjs)
node --test --test-concurrency=2 --test-timeout=120000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$LOGDIR/node.tap" \
  "${files[@]}"
node_rc=$?
node_passed=$(grep -E '^# pass [0-9]+' "$LOGDIR/node.tap" | tail -1 | grep -Eo '[0-9]+' || echo 0)
node_failed=$(grep -E '^# fail [0-9]+' "$LOGDIR/node.tap" | tail -1 | grep -Eo '[0-9]+' || echo 0)
node_passed=${node_passed:-0}; node_failed=${node_failed:-0}
if [ "$node_rc" != 0 ] && [ "$node_failed" = 0 ]; then node_failed=1; fi
if [ "$node_passed" = 0 ]; then node_failed=$((node_failed + 1)); echo "no node tests ran"; fi

passed=$((unit_passed + node_passed))
failed=$((unit_failed + node_failed))
echo "== $((($(date +%s) - start))) s: unit $unit_passed passed, $unit_failed failed; node $node_passed passed, $node_failed failed"
echo "total: $passed passed, $failed failed"
[ "$failed" = 0 ]
