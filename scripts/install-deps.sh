#!/usr/bin/env bash
# Installs everything switchyard needs to build, run and test, from Debian 12 packages
# (and the npm registry for the SDK conformance tests). Idempotent: installs only what
# is missing, so `make run` / `make test` can call it every time.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential cmake ninja-build pkg-config ccache
  libboost1.81-dev libssl-dev openssl ca-certificates
  nlohmann-json3-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  prometheus-cpp-dev libgtest-dev googletest libgmock-dev libbenchmark-dev
  libre2-dev curl wrk
)
# Telemetry tests: a real Prometheus server and promtool, headless Chromium for /status
# (not needed to build or run the gateway: the container build skips them).
if [ "${SWITCHYARD_SKIP_TEST_TOOLS:-0}" != 1 ]; then PKGS+=(prometheus chromium); fi

# --bench adds what the benchmark scripts compare against (nginx as a plain proxy).
if [ "${1:-}" = "--bench" ]; then PKGS+=(nginx-light); fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node.js and npm: the machine image may ship its own Node (which conflicts with
# Debian's npm package); install Debian's only when no node/npm is present at all.
if [ "${SWITCHYARD_SKIP_NPM:-0}" != 1 ] && { ! command -v node >/dev/null || ! command -v npm >/dev/null; }; then
  SUDO=""; if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# Node test clients (official SDKs), pinned by package-lock.json.
if [ "${SWITCHYARD_SKIP_NPM:-0}" != 1 ] && [ -f tests/sdk/package.json ]; then
  if [ ! -d tests/sdk/node_modules ] || [ tests/sdk/package-lock.json -nt tests/sdk/node_modules ]; then
    (cd tests/sdk && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
