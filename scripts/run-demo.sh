#!/usr/bin/env bash
# `make run`: the bundled mock provider on 127.0.0.1:9001 plus the gateway with the
# demo config, or the gateway alone with $SWITCHYARD_CONFIG when that is set.
set -euo pipefail
BUILD=${BUILD:-build}

if [ -n "${SWITCHYARD_CONFIG:-}" ]; then
  exec "$BUILD/switchyard" --config "$SWITCHYARD_CONFIG"
fi

"$BUILD/switchyard-mock" --listen 127.0.0.1:9001 >/dev/null &
mock=$!
gw=""
cleanup() {
  if [ -n "$gw" ]; then kill -TERM "$gw" 2>/dev/null || true; wait "$gw" 2>/dev/null || true; fi
  kill "$mock" 2>/dev/null || true
  wait "$mock" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM
echo "mock provider on 127.0.0.1:9001 (pid $mock)"
echo "try: curl -s localhost:8080/v1/chat/completions -H 'content-type: application/json' \\"
echo "       -d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'"
"$BUILD/switchyard" --config config/demo.yaml &
gw=$!
rc=0
wait "$gw" || rc=$?
gw=""
exit "$rc"
