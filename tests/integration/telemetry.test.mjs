// Telemetry (issue 7): the JSON access log (one line per request, every field), JSON
// operational logs, no key in any log line, /metrics on or off and at its configured path,
// and the telemetry config keys.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  GATEWAY_BIN, chatBody, config, post, rawExchange, readSse, sleep, startGateway, startMock, tmpDir,
} from './harness.mjs';

const CLIENT_KEY = 'sk-client-SECRET-4f2a9c';
const UPSTREAM_KEY = 'sk-upstream-SECRET-77b1';
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const FIELDS = ['time', 'request_id', 'trace_id', 'method', 'path', 'endpoint', 'model', 'task',
  'deployment', 'attempts', 'status', 'stream', 'duration_ms', 'ttft_ms', 'input_tokens',
  'output_tokens', 'cached_tokens', 'token_provenance', 'cost_usd', 'key', 'client',
  'error_type', 'error_code'];

let mock, gw;
before(async () => {
  mock = await startMock();
  gw = await startGateway(config({
    server: { workers: 2 },
    providers: [{ name: 'mock', url: mock.url, api_key: UPSTREAM_KEY }],
    models: {
      m: [{ provider: 'mock', model: 'ok?tokens=3', price: { input: 1, output: 2 } }],
      flaky: ['down?status=500', 'up?tokens=2'],
      slow: ['slow?latency_ms=1500&tokens=1'],
    },
    admin: { key: 'adm-telemetry' },
    // debug: the most the gateway ever logs; still no key may show up.
    telemetry: { log_level: 'debug' },
  }));
});
after(async () => { await gw?.stop?.(); await mock?.stop?.(); });

// Access-log lines (stdout minus the start-up line), parsed; waits for at least `n`.
async function accessLines(handle, n) {
  for (let i = 0; i < 100; i++) {
    const lines = handle.stdout.split('\n').filter((l) => l.startsWith('{'));
    if (lines.length >= n) return lines.map((l) => JSON.parse(l));
    await sleep(50);
  }
  assert.fail(`expected ${n} access-log lines, have: ${handle.stdout}`);
}
const byId = (lines, id) => lines.find((l) => l.request_id === id);
// The line of request `id` (workers hand their lines to the writer every 100 ms).
async function lineFor(handle, id) {
  for (let i = 0; i < 100; i++) {
    const line = byId(await accessLines(handle, 0), id);
    if (line) return line;
    await sleep(50);
  }
  assert.fail(`no access-log line for ${id}: ${handle.stdout}`);
}

test('one JSON access-log line per request, with every field', async () => {
  const before = (await accessLines(gw, 0)).length;
  const ok = await post(gw, chatBody('m'), { 'x-request-id': 'tel-ok', authorization: `Bearer ${CLIENT_KEY}` });
  assert.equal(ok.status, 200);
  await ok.json();
  const st = await post(gw, chatBody('m', { stream: true }), {
    'x-request-id': 'tel-stream', traceparent: `00-${TRACE}-00f067aa0ba902b7-01`,
  });
  assert.equal(st.status, 200);
  await readSse(st);
  const fo = await post(gw, chatBody('flaky'), { 'x-request-id': 'tel-failover' });
  assert.equal(fo.status, 200);
  await fo.json();
  const nf = await post(gw, chatBody('no-such-model'), { 'x-request-id': 'tel-404' });
  assert.equal(nf.status, 404);
  await nf.text();
  const hz = await fetch(`${gw.url}/healthz`, { headers: { 'x-request-id': 'tel-health' } });
  assert.equal(hz.status, 200);
  await hz.text();

  const lines = await accessLines(gw, before + 5);
  for (const l of lines) assert.deepEqual(Object.keys(l), FIELDS, 'every line has every field, in order');

  const a = byId(lines, 'tel-ok');
  assert.equal(a.method, 'POST');
  assert.equal(a.path, '/v1/chat/completions');
  assert.equal(a.endpoint, 'chat.completions');
  assert.equal(a.model, 'm');
  assert.equal(a.task, 'general');
  assert.equal(a.deployment, 'mock/ok?tokens=3');
  assert.equal(a.attempts, 1);
  assert.equal(a.status, 200);
  assert.equal(a.stream, false);
  assert.ok(a.duration_ms > 0);
  assert.equal(a.ttft_ms, null);
  assert.ok(a.input_tokens > 0);
  assert.equal(a.output_tokens, 3);
  assert.equal(a.token_provenance, 'provider');
  assert.ok(Math.abs(a.cost_usd - (a.input_tokens * 1 + 3 * 2) / 1e6) < 1e-9, 'cost from the prices');
  assert.match(a.client, /^127\.0\.0\.1:\d+$/);
  assert.match(a.trace_id, /^[0-9a-f]{32}$/, 'a trace started for it');
  assert.ok(!Number.isNaN(Date.parse(a.time)));

  const s = byId(lines, 'tel-stream');
  assert.equal(s.stream, true);
  assert.equal(s.trace_id, TRACE, 'the client\'s trace id');
  assert.ok(s.ttft_ms > 0 && s.ttft_ms <= s.duration_ms, `ttft ${s.ttft_ms} within ${s.duration_ms}`);
  assert.equal(s.output_tokens, 3);

  const f = byId(lines, 'tel-failover');
  assert.equal(f.attempts, 2);
  assert.equal(f.deployment, 'mock/up?tokens=2');

  const n = byId(lines, 'tel-404');
  assert.equal(n.status, 404);
  assert.equal(n.model, 'no-such-model');
  assert.equal(n.deployment, null);
  assert.equal(n.error_type, 'invalid_request_error');
  assert.equal(n.error_code, 'model_not_found');
  assert.equal(n.input_tokens, null);

  const h = byId(lines, 'tel-health');
  assert.equal(h.endpoint, 'health');
  assert.equal(h.model, null);
});

test('a client that leaves before the answer is logged as 499', async () => {
  const body = chatBody('slow');
  // The deployment takes 1.5 s to answer; the client hangs up after 200 ms.
  const r = await rawExchange(gw.port, [
    'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n' +
    `x-request-id: tel-gone\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  ], { timeoutMs: 200 });
  assert.equal(r.why, 'timeout');
  const line = await lineFor(gw, 'tel-gone');
  assert.equal(line.status, 499);
  assert.equal(line.model, 'slow');
  assert.ok(line.duration_ms < 1500, `logged when the client left (${line.duration_ms} ms), not when the provider would have answered`);
});

test('no key ever reaches a log line (client key, upstream key, admin key, query string)', async () => {
  const res = await fetch(`${gw.url}/v1/chat/completions?key=${CLIENT_KEY}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}`, 'x-api-key': CLIENT_KEY, 'x-request-id': 'tel-secret' },
    body: chatBody('m'),
  });
  assert.equal(res.status, 200);
  await res.json();
  const bad = await fetch(`${gw.url}/admin/status`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
  assert.equal(bad.status, 401);
  await bad.text();
  const adm = await fetch(`${gw.url}/admin/usage`, { headers: { authorization: 'Bearer adm-telemetry' } });
  assert.equal(adm.status, 200);
  await adm.text();
  const line = await lineFor(gw, 'tel-secret');
  assert.equal(line.path, '/v1/chat/completions', 'logged without its query string');
  await sleep(100);
  const all = gw.stdout + gw.stderr;
  for (const secret of [CLIENT_KEY, UPSTREAM_KEY, 'adm-telemetry', 'SECRET']) {
    assert.ok(!all.includes(secret), `"${secret}" found in the logs`);
  }
});

test('operational logs are JSON lines at the configured level', async () => {
  const lines = gw.stderr.split('\n').filter(Boolean);
  assert.ok(lines.length > 0, 'debug level logs something');
  for (const l of lines) {
    const j = JSON.parse(l);
    assert.deepEqual(Object.keys(j), ['time', 'level', 'msg']);
    assert.ok(['trace', 'debug', 'info', 'warning', 'error', 'critical'].includes(j.level), j.level);
  }
  assert.ok(lines.some((l) => JSON.parse(l).level === 'debug'), 'telemetry.log_level: debug is honoured');
});

test('/metrics is served, and counts these requests', async () => {
  const res = await fetch(`${gw.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assert.match(text, /^switchyard_requests_total\{endpoint="chat.completions",model="m",deployment="mock\/ok\?tokens=3",status_class="2xx"\} \d+$/m);
  assert.match(text, /^switchyard_failovers_total\{model="flaky",outcome="answered"\} 1$/m);
  assert.ok(!text.includes(UPSTREAM_KEY));
});

test('access log to a file, metrics off, text logs; stdout keeps only the start-up line', async () => {
  const file = path.join(tmpDir(), 'access.log');
  const g = await startGateway(config({
    server: { workers: 1 },
    providers: [{ name: 'mock', url: mock.url }],
    models: { m: ['ok?tokens=1'] },
    telemetry: { access_log: file, metrics: false, log_format: 'text' },
  }));
  try {
    const r = await post(g, chatBody('m'), { 'x-request-id': 'to-file' });
    assert.equal(r.status, 200);
    await r.json();
    const m = await fetch(`${g.url}/metrics`);
    assert.equal(m.status, 404);
    await m.text();
    let lines = [];
    for (let i = 0; i < 100 && lines.length < 2; i++) {
      await sleep(50);
      lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    }
    assert.equal(lines.length, 2);
    assert.equal(lines[0].request_id, 'to-file');
    assert.equal(lines[1].status, 404);
    assert.equal(lines[1].endpoint, 'other', 'with metrics off /metrics is just an unknown URL');
    assert.deepEqual(g.stdout.trim().split('\n').length, 1, g.stdout);
  } finally {
    await g.stop();
  }
});

test('metrics_path moves the endpoint', async () => {
  const g = await startGateway(config({
    server: { workers: 1 },
    providers: [{ name: 'mock', url: mock.url }],
    models: { m: ['ok?tokens=1'] },
    telemetry: { metrics_path: '/internal/prom', access_log: 'off' },
  }));
  try {
    const moved = await fetch(`${g.url}/internal/prom`);
    assert.equal(moved.status, 200);
    assert.match(await moved.text(), /switchyard_build_info\{version="/);
    const old = await fetch(`${g.url}/metrics`);
    assert.equal(old.status, 404);
    await old.text();
    assert.equal(g.stdout.trim().split('\n').length, 1, 'access_log: off writes nothing');
  } finally {
    await g.stop();
  }
});

test('telemetry keys are validated with the path of the bad field', () => {
  const base = config({ providers: [{ name: 'p', url: 'http://127.0.0.1:9/v1' }], models: { m: ['x'] } });
  const cases = [
    ['telemetry: { log_level: loud }', /telemetry\.log_level: unknown level "loud"/],
    ['telemetry: { metrics_path: "metrics" }', /telemetry\.metrics_path: expected a path starting with \//],
    ['telemetry: { metrics_path: "/v1/metrics" }', /telemetry\.metrics_path: is a path the gateway already serves/],
    ['telemetry: { access_log: "" }', /telemetry\.access_log: must not be empty/],
    ['telemetry: { log_format: xml }', /telemetry\.log_format: unknown format "xml"/],
    ['telemetry: { tracing: true }', /telemetry\.tracing: unknown key/],
  ];
  for (const [extra, re] of cases) {
    const f = path.join(tmpDir(), 'c.yaml');
    writeFileSync(f, `${base}${extra}\n`);
    const r = spawnSync(GATEWAY_BIN, ['--check-config', f], { encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 2, `${extra}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, re);
  }
  const f = path.join(tmpDir(), 'c.yaml');
  writeFileSync(f, `${base}telemetry: { metrics: true, metrics_path: /m, access_log: stderr, log_level: warn, log_format: json }\n`);
  const ok = spawnSync(GATEWAY_BIN, ['--check-config', f], { encoding: 'utf8', timeout: 30000 });
  assert.equal(ok.status, 0, ok.stderr);
});

test('an unwritable access_log path stops start-up with a clear error', () => {
  const base = config({ providers: [{ name: 'p', url: 'http://127.0.0.1:9/v1' }], models: { m: ['x'] } });
  const f = path.join(tmpDir(), 'c.yaml');
  // A path under a regular file: no directory can be made there (spdlog makes missing ones).
  const notADir = path.join(tmpDir(), 'plain-file');
  writeFileSync(notADir, 'x');
  writeFileSync(f, `${base}telemetry: { access_log: ${notADir}/access.log }\n`);
  const r = spawnSync(GATEWAY_BIN, ['--config', f], { encoding: 'utf8', timeout: 30000 });
  assert.notEqual(r.status, 0);
  assert.ok(r.stderr.includes(`telemetry.access_log: cannot open ${notADir}/access.log`), r.stderr);
});
