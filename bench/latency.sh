#!/usr/bin/env bash
# Added latency and single-worker throughput: switchyard -> mock vs mock directly.
# Usage: BUILD=build bench/latency.sh [duration_seconds]
# Loopback only; every process is started here and stopped on exit.
set -euo pipefail
BUILD=${BUILD:-build}
DUR=${1:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/install-deps.sh --bench >/dev/null
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

source bench/lib.sh
start_mock

bench_config "$tmp/gw.yaml"
"$BUILD/switchyard" --config "$tmp/gw.yaml" --log-level warn >"$tmp/gw.out" &
pids+=($!)
GW_PORT=$(gateway_port "$tmp/gw.out")

# nginx as a plain reverse proxy in front of the same mock: one worker process, keep-alive
# upstream connections, no access log — the reference for per-request cost.
mkdir -p "$tmp/nginx"
NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)
cat >"$tmp/nginx/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream mock { server 127.0.0.1:${MOCK_PORT}; keepalive 256; }
  server {
    listen 127.0.0.1:${NGINX_PORT};
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGX
"$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" &
pids+=($!)
sleep 0.5

run() { # name url conns threads
  BENCH_MODEL=$5 wrk -t"$4" -c"$3" -d"${DUR}s" --latency -s bench/post.lua "$2/v1/chat/completions" >"$tmp/$1.txt"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/{print $2}' "$tmp/$1.txt")
  p50=$(awk '$1=="50%"{print $2}' "$tmp/$1.txt")
  p99=$(awk '$1=="99%"{print $2}' "$tmp/$1.txt")
  printf "%-28s c=%-3s rps=%-10s p50=%-9s p99=%s\n" "$1" "$3" "$rps" "$p50" "$p99"
}

echo "wrk $DUR s per run, $(nproc) cores, $(uname -r)"
run mock-direct-c1 "http://127.0.0.1:$MOCK_PORT" 1 1 "bench-upstream?tokens=16"
run gateway-c1 "http://127.0.0.1:$GW_PORT" 1 1 bench
run nginx-c1 "http://127.0.0.1:$NGINX_PORT" 1 1 "bench-upstream?tokens=16"
run mock-direct-c64 "http://127.0.0.1:$MOCK_PORT" 64 1 "bench-upstream?tokens=16"
run gateway-1worker-c64 "http://127.0.0.1:$GW_PORT" 64 1 bench
run nginx-1worker-c64 "http://127.0.0.1:$NGINX_PORT" 64 1 "bench-upstream?tokens=16"
for f in "$tmp"/*.txt; do grep -q "Non-2xx" "$f" && { echo "non-2xx answers in $(basename "$f")"; grep -A1 Non-2xx "$f"; }; done
exit 0
