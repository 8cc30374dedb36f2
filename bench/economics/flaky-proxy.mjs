#!/usr/bin/env node
// A pass-through HTTP proxy in front of switchyard-mock that makes a given share of the
// requests fail: it adds `x-mock: status=503` to them, so the mock answers 503 (after the
// deployment's own latency_ms) instead of 200. The mock has no random-failure directive,
// and this keeps the failures random per attempt (a retry of the same request may succeed),
// the way a provider's transient 503s are.
//
//   node bench/economics/flaky-proxy.mjs --target http://127.0.0.1:PORT --rate 0.03 --seed 7
//
// Prints "LISTENING <port>" once it listens on 127.0.0.1 (ephemeral port).
// GET /proxy/stats -> {"requests":N,"failed":M}. Stops on SIGTERM/SIGINT.
import http from 'node:http';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const target = new URL(arg('target', 'http://127.0.0.1:9000'));
const rate = Number(arg('rate', '0.03'));
let state = Number(arg('seed', '7')) >>> 0;
function rand() {  // mulberry32
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
const stats = { requests: 0, failed: 0 };

const server = http.createServer((req, res) => {
  if (req.url === '/proxy/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(stats));
    return;
  }
  stats.requests++;
  const headers = { ...req.headers };
  delete headers.connection;
  delete headers['keep-alive'];
  if (rand() < rate) {
    stats.failed++;
    headers['x-mock'] = headers['x-mock'] ? `${headers['x-mock']}&status=503` : 'status=503';
  }
  const up = http.request({
    host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent,
  }, (ur) => {
    const h = { ...ur.headers };
    delete h.connection;
    delete h['keep-alive'];
    res.writeHead(ur.statusCode, h);
    ur.pipe(res);
  });
  up.on('error', () => res.destroy());
  req.on('error', () => up.destroy());
  res.on('close', () => { if (!res.writableFinished) up.destroy(); });
  req.pipe(up);
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
const stop = () => { server.close(); agent.destroy(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
