# Sourced by the bench scripts: a temporary folder, every process started stopped on exit,
# the bundled mock provider on an ephemeral loopback port. Needs $BUILD.
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

# Starts the mock provider; sets MOCK_PORT.
start_mock() {
  "$BUILD/switchyard-mock" --listen 127.0.0.1:0 >"$tmp/mock.out" &
  pids+=($!)
  for _ in $(seq 100); do grep -q LISTENING "$tmp/mock.out" 2>/dev/null && break; sleep 0.05; done
  MOCK_PORT=$(awk '/LISTENING/{print $2}' "$tmp/mock.out")
}

# Writes the benchmark gateway's config to FILE: one worker, model `bench` → the mock (a
# 16-token answer), admin key bench-admin, plus the YAML lines given after FILE.
bench_config() { # file [extra yaml lines…]
  local file=$1
  shift
  cat >"$file" <<YAML
server: { listen: "127.0.0.1:0", workers: 1 }
providers:
  - name: mock
    kind: openai
    base_url: "http://127.0.0.1:${MOCK_PORT}/v1"
    api_key: "sk-bench"
    max_connections: 256
models:
  - name: bench
    deployments: [ { provider: mock, model: "bench-upstream?tokens=16" } ]
admin: { key: bench-admin }
YAML
  for line in "$@"; do printf '%s\n' "$line" >>"$file"; done
}

# Starts a gateway: binary BIN with the bench config plus the YAML lines given; its output
# in $tmp/NAME.out; sets PORT (call it directly, not in a subshell: cleanup needs the pid).
start_gateway() { # name bin [extra yaml lines…]
  local name=$1 bin=$2
  shift 2
  bench_config "$tmp/$name.yaml" "$@"
  "$bin" --config "$tmp/$name.yaml" --log-level warn >"$tmp/$name.out" &
  pids+=($!)
  PORT=$(gateway_port "$tmp/$name.out")
}

# Waits for a gateway's "listening on" line in FILE (up to `tries` × 50 ms); prints its port.
gateway_port() { # file [tries]
  for _ in $(seq "${2:-100}"); do grep -q "listening on" "$1" 2>/dev/null && break; sleep 0.05; done
  sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$1"
}
