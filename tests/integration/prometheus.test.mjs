// Metrics, alert rules and the real Prometheus (issue 7, item 4): the alert rules of
// docker/prometheus pass promtool's checks and unit tests; after a known load, GET /metrics
// passes `promtool check metrics` and every counter says exactly what was sent; and a real
// Prometheus (the Debian package, on loopback only) scrapes the gateway, answers PromQL
// over it, and loads the project's alert rules and the dashboard's queries.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, chatBody, config, post, readSse, sleep, startGateway, startMock, tmpDir } from './harness.mjs';

const PROMETHEUS = process.env.PROMETHEUS_BIN || '/usr/bin/prometheus';
const PROMTOOL = process.env.PROMTOOL_BIN || '/usr/bin/promtool';
const ALERTS = path.join(ROOT, 'docker/prometheus/alerts.yml');
const ALERT_TESTS = path.join(ROOT, 'docker/prometheus/alerts.test.yml');
const DASHBOARD = path.join(ROOT, 'docker/grafana/dashboards/switchyard.json');
const ALERT_NAMES = ['SwitchyardHighErrorRate', 'SwitchyardHighLatencyP99', 'SwitchyardBreakerOpen',
  'SwitchyardRateLimitHeadroomLow', 'SwitchyardPoolQueueSaturated', 'SwitchyardBudgetNearlyUsed', 'SwitchyardDown'];

function requireBinary(bin) {
  assert.ok(existsSync(bin), `${bin} is missing: install the Debian package "prometheus" ` +
    '(apt-get install prometheus; scripts/install-deps.sh does), or point PROMETHEUS_BIN / PROMTOOL_BIN at it');
}

function promtool(args, input) {
  requireBinary(PROMTOOL);
  const r = spawnSync(PROMTOOL, args, { input, encoding: 'utf8', timeout: 30000 });
  return { code: r.status, out: `${r.stdout || ''}${r.stderr || ''}${r.error ? String(r.error) : ''}` };
}

// ---- the load and what it must leave in the counters -------------------------------

const M_DEP = 'mock/ok?tokens=3';
const FLAKY_DOWN = 'mock/down?status=500';
const FLAKY_UP = 'mock/up?tokens=2';
const LOAD = { plain: 30, streams: 20, flaky: 10, unknown: 3 };

function gatewayConfig(mock) {
  return config({
    server: { workers: 2 },
    providers: [{ name: 'mock', url: mock.url }],
    models: {
      m: [{ provider: 'mock', model: 'ok?tokens=3', price: { input: 2, output: 10 } }],
      flaky: ['down?status=500', 'up?tokens=2'],
    },
    // No breaker trips in this short load: every flaky request tries `down` first.
    routing: { breaker: { failures: 1000 } },
  });
}

async function inBatches(n, size, fn) {
  for (let i = 0; i < n; i += size) {
    await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, k) => fn(i + k)));
  }
}

// Sends LOAD and checks every answer; returns when every response body has been read.
async function sendLoad(gw) {
  await inBatches(LOAD.plain, 10, async () => {
    const res = await post(gw, chatBody('m'));
    assert.equal(res.status, 200);
    assert.equal((await res.json()).choices[0].message.content, 'tok0 tok1 tok2');
  });
  await inBatches(LOAD.streams, 10, async () => {
    const res = await post(gw, chatBody('m', { stream: true }));
    assert.equal(res.status, 200);
    const { events } = await readSse(res);
    assert.equal(events.at(-1), '[DONE]');
  });
  await inBatches(LOAD.flaky, 5, async () => {
    const res = await post(gw, chatBody('flaky'));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-switchyard-deployment'), FLAKY_UP);
    await res.json();
  });
  for (let i = 0; i < LOAD.unknown; i++) {
    const res = await post(gw, chatBody('no-such-model'));
    assert.equal(res.status, 404);
    await res.text();
  }
}

// ---- the text format, parsed -------------------------------------------------------

function unescapeLabel(v) {
  return v.replace(/\\(["\\n])/g, (_, c) => (c === 'n' ? '\n' : c));
}

// [{ name, labels: {..}, value }] of every sample line (HELP and TYPE lines skipped).
function parseExposition(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    let lm;
    let consumed = 0;
    while ((lm = re.exec(m[2] || '')) !== null) { labels[lm[1]] = unescapeLabel(lm[2]); consumed = re.lastIndex; }
    assert.equal(consumed, (m[2] || '').length, `labels of ${line}`);
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    samples.push({ name: m[1], labels, value });
  }
  return samples;
}

// Sum of the samples of `name` whose labels include every pair of `match` (0 when none).
function sum(samples, name, match = {}) {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}
const series = (samples, name, match = {}) =>
  samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));

async function scrape(gw) {
  const res = await fetch(`${gw.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') || '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

// ---- a: the rules ----------------------------------------------------------------------

describe('alert rules', () => {
  test('promtool check rules docker/prometheus/alerts.yml', () => {
    const r = promtool(['check', 'rules', ALERTS]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`SUCCESS: ${ALERT_NAMES.length} rules found`), r.out);
  });

  test('promtool test rules docker/prometheus/alerts.test.yml', () => {
    const r = promtool(['test', 'rules', ALERT_TESTS]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS/, r.out);
  });
});

// ---- b: /metrics after a known load --------------------------------------------------

describe('GET /metrics after a known load', () => {
  let mock, gw, text, samples, upstream;
  before(async () => {
    mock = await startMock();
    gw = await startGateway(gatewayConfig(mock));
    await sendLoad(gw);
    upstream = await mock.requests();
    // Router and pool gauges (health, breaker, headroom, connections) are what each worker
    // last published, every 100 ms; a stream's close is counted once the gateway has written
    // its end. Give both a moment.
    await sleep(300);
    for (let i = 0; i < 50; i++) {
      text = await scrape(gw);
      samples = parseExposition(text);
      if (sum(samples, 'switchyard_open_streams') === 0 && sum(samples, 'switchyard_upstream_in_flight') === 0) break;
      await sleep(20);
    }
  });
  after(async () => { await gw?.stop?.(); await mock?.stop?.(); });

  test('promtool check metrics accepts the exposition', () => {
    const r = promtool(['check', 'metrics'], text);
    assert.equal(r.code, 0, `promtool check metrics:\n${r.out}`);
  });

  test('requests_total by endpoint, model, deployment and status class', () => {
    const chat = { endpoint: 'chat.completions' };
    assert.equal(sum(samples, 'switchyard_requests_total', { ...chat, model: 'm', deployment: M_DEP, status_class: '2xx' }),
      LOAD.plain + LOAD.streams);
    assert.equal(sum(samples, 'switchyard_requests_total', { ...chat, model: 'm' }), LOAD.plain + LOAD.streams);
    assert.equal(sum(samples, 'switchyard_requests_total', { ...chat, model: 'flaky', deployment: FLAKY_UP, status_class: '2xx' }),
      LOAD.flaky);
    assert.equal(sum(samples, 'switchyard_requests_total', { ...chat, model: 'flaky' }), LOAD.flaky);
    assert.equal(sum(samples, 'switchyard_requests_total', { ...chat, model: '', deployment: '', status_class: '4xx' }),
      LOAD.unknown, 'a model nobody configured: model=""');
    assert.equal(sum(samples, 'switchyard_requests_total', chat), LOAD.plain + LOAD.streams + LOAD.flaky + LOAD.unknown);
    assert.equal(sum(samples, 'switchyard_requests_total', { status_class: '5xx' }), 0);
    const classes = new Set(series(samples, 'switchyard_requests_total').map((s) => s.labels.status_class));
    for (const c of classes) assert.match(c, /^[1-5]xx$/);
  });

  test('request duration and TTFT histograms count what was sent', () => {
    const count = (name, match) => sum(samples, `${name}_count`, match);
    assert.equal(count('switchyard_request_duration_seconds', { model: 'm', deployment: M_DEP }), LOAD.plain + LOAD.streams);
    assert.equal(count('switchyard_request_duration_seconds', { model: 'flaky', deployment: FLAKY_UP }), LOAD.flaky);
    assert.equal(count('switchyard_request_duration_seconds', {}), LOAD.plain + LOAD.streams + LOAD.flaky + LOAD.unknown,
      'every chat request, the 404s for an unknown model too');
    assert.equal(count('switchyard_ttft_seconds', { model: 'm', deployment: M_DEP }), LOAD.streams);
    assert.equal(count('switchyard_ttft_seconds', {}), LOAD.streams, 'only streams have a TTFT');
    // Attempts: m 50 (success), flaky 10 on down (failure) and 10 on up (success).
    assert.equal(count('switchyard_upstream_attempt_duration_seconds', { model: 'm' }), LOAD.plain + LOAD.streams);
    assert.equal(count('switchyard_upstream_attempt_duration_seconds', { model: 'flaky', deployment: FLAKY_DOWN }), LOAD.flaky);
    assert.equal(count('switchyard_upstream_attempt_duration_seconds', { model: 'flaky', deployment: FLAKY_UP }), LOAD.flaky);
    // Buckets: cumulative, the +Inf one equal to the count, the fixed bounds.
    const bounds = ['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '20', '30', '60', '+Inf'];
    for (const name of ['switchyard_request_duration_seconds', 'switchyard_ttft_seconds', 'switchyard_upstream_attempt_duration_seconds']) {
      for (const c of series(samples, `${name}_count`)) {
        const b = series(samples, `${name}_bucket`, { model: c.labels.model, deployment: c.labels.deployment });
        assert.deepEqual(b.map((s) => s.labels.le).map((le) => (le === '+Inf' ? le : String(Number(le)))), bounds, name);
        for (let i = 1; i < b.length; i++) assert.ok(b[i].value >= b[i - 1].value, `${name} buckets are cumulative`);
        assert.equal(b.at(-1).value, c.value, `${name}: +Inf bucket == count`);
        const s = sum(samples, `${name}_sum`, { model: c.labels.model, deployment: c.labels.deployment });
        assert.ok(s > 0 && s < c.value * 30, `${name}_sum ${s} for ${c.value} observations`);
      }
    }
  });

  test('upstream attempts, errors, failovers and retries', () => {
    const att = (match) => sum(samples, 'switchyard_upstream_attempts_total', match);
    assert.equal(att({ model: 'm', deployment: M_DEP, provider: 'mock', outcome: 'success' }), LOAD.plain + LOAD.streams);
    assert.equal(att({ model: 'flaky', deployment: FLAKY_DOWN, provider: 'mock', outcome: 'failure' }), LOAD.flaky);
    assert.equal(att({ model: 'flaky', deployment: FLAKY_UP, provider: 'mock', outcome: 'success' }), LOAD.flaky);
    assert.equal(att({}), LOAD.plain + LOAD.streams + 2 * LOAD.flaky, 'no other attempt');
    assert.equal(sum(samples, 'switchyard_upstream_errors_total',
      { model: 'flaky', deployment: FLAKY_DOWN, provider: 'mock', reason: 'status_5xx' }), LOAD.flaky);
    assert.equal(sum(samples, 'switchyard_upstream_errors_total', {}), LOAD.flaky, 'no other upstream error');
    assert.equal(sum(samples, 'switchyard_failovers_total', { model: 'flaky', outcome: 'answered' }), LOAD.flaky);
    assert.equal(sum(samples, 'switchyard_failovers_total', {}), LOAD.flaky);
    assert.equal(sum(samples, 'switchyard_retries_total', {}), 0, 'every attempt went to another deployment');
    assert.equal(sum(samples, 'switchyard_hedges_total', {}), 0);
    assert.equal(sum(samples, 'switchyard_stream_rescues_total', {}), 0);
    assert.equal(sum(samples, 'switchyard_router_exclusions_total', {}), 0);
  });

  test('router decisions', () => {
    assert.equal(sum(samples, 'switchyard_router_decisions_total', { model: 'm', reason: 'routed' }), LOAD.plain + LOAD.streams);
    assert.equal(sum(samples, 'switchyard_router_decisions_total', { model: 'flaky', reason: 'routed' }), LOAD.flaky);
    assert.equal(sum(samples, 'switchyard_router_decisions_total', {}), LOAD.plain + LOAD.streams + LOAD.flaky);
    for (const s of series(samples, 'switchyard_router_decisions_total')) assert.equal(s.labels.task, 'general');
  });

  test('tokens and cost match what the mock answered', () => {
    // The mock's prompt_tokens: the upstream body's bytes / 4, rounded up.
    const promptTokens = (upstreamModel) => upstream
      .filter((q) => JSON.parse(q.body).model === upstreamModel)
      .reduce((n, q) => n + Math.ceil(Buffer.byteLength(q.body) / 4), 0);
    assert.equal(upstream.length, LOAD.plain + LOAD.streams + 2 * LOAD.flaky, 'upstream requests');
    const tok = (match) => sum(samples, 'switchyard_tokens_total', match);
    const mIn = promptTokens('ok?tokens=3');
    const mOut = 3 * (LOAD.plain + LOAD.streams);
    assert.ok(mIn > 0);
    assert.equal(tok({ model: 'm', deployment: M_DEP, direction: 'input', provenance: 'provider' }), mIn);
    assert.equal(tok({ model: 'm', deployment: M_DEP, direction: 'output', provenance: 'provider' }), mOut);
    assert.equal(tok({ model: 'flaky', deployment: FLAKY_UP, direction: 'input', provenance: 'provider' }), promptTokens('up?tokens=2'));
    assert.equal(tok({ model: 'flaky', deployment: FLAKY_UP, direction: 'output', provenance: 'provider' }), 2 * LOAD.flaky);
    assert.equal(tok({ provenance: 'estimated' }), 0, 'the mock reports usage, streams included');
    assert.equal(tok({ deployment: FLAKY_DOWN }), 0, 'a failed attempt delivers no tokens');
    assert.equal(sum(samples, 'switchyard_cached_tokens_total', {}), 0);
    // Prices are USD per million tokens: m costs 2 in, 10 out; flaky has no price.
    const cost = sum(samples, 'switchyard_cost_usd_total', { model: 'm', deployment: M_DEP });
    const expected = (mIn * 2 + mOut * 10) / 1e6;
    assert.ok(Math.abs(cost - expected) < 1e-9, `cost ${cost}, expected ${expected}`);
    assert.equal(sum(samples, 'switchyard_cost_usd_total', { model: 'flaky' }), 0);
  });

  test('gauges: health, breaker, headroom, pools, process', () => {
    for (const dep of [M_DEP, FLAKY_DOWN, FLAKY_UP]) {
      assert.equal(series(samples, 'switchyard_breaker_state', { deployment: dep }).length, 1, dep);
      assert.equal(sum(samples, 'switchyard_breaker_state', { deployment: dep }), 0, `${dep}: breaker closed (failures: 1000)`);
      const h = sum(samples, 'switchyard_health_score', { deployment: dep });
      assert.ok(h >= 0 && h <= 1, `${dep} health ${h}`);
      assert.equal(sum(samples, 'switchyard_upstream_in_flight', { deployment: dep }), 0);
      const room = series(samples, 'switchyard_ratelimit_headroom_ratio', { deployment: dep, source: 'provider' });
      assert.equal(room.length, 1, dep);
      assert.ok(room[0].value >= 0 && room[0].value <= 1, `${dep} headroom ${room[0].value}`);
      assert.equal(series(samples, 'switchyard_ratelimit_headroom_ratio', { deployment: dep, source: 'local' }).length, 0,
        'no max_rpm: no local headroom');
    }
    assert.equal(sum(samples, 'switchyard_health_score', { deployment: M_DEP }), 1, 'm never failed');
    assert.ok(sum(samples, 'switchyard_health_score', { deployment: FLAKY_DOWN }) < 0.5, 'down failed every time');
    // The mock's x-ratelimit headers: 9999 of 10000 requests and 999000 of 1000000 tokens left.
    const room = sum(samples, 'switchyard_ratelimit_headroom_ratio', { deployment: M_DEP, source: 'provider' });
    assert.ok(room > 0.99, `headroom ${room}`);
    assert.equal(sum(samples, 'switchyard_open_streams'), 0);
    assert.ok(sum(samples, 'switchyard_in_flight_requests') <= 1, 'at most the scrape itself');
    assert.equal(sum(samples, 'switchyard_pool_connections', { provider: 'mock', state: 'busy' }), 0);
    assert.ok(sum(samples, 'switchyard_pool_connections', { provider: 'mock', state: 'idle' }) >= 1, 'kept-alive connections');
    assert.ok(sum(samples, 'switchyard_pool_max_connections', { provider: 'mock' }) >= 1);
    assert.equal(sum(samples, 'switchyard_pool_queue_length', { provider: 'mock' }), 0);
    assert.equal(series(samples, 'switchyard_pool_queue_capacity', { provider: 'mock' }).length, 1);
    const info = series(samples, 'switchyard_build_info');
    assert.equal(info.length, 1);
    assert.equal(info[0].value, 1);
    assert.match(info[0].labels.version, /^\d+\.\d+\.\d+/);
    assert.equal(sum(samples, 'switchyard_workers'), 2);
    const started = sum(samples, 'switchyard_start_time_seconds');
    assert.ok(Math.abs(started - Date.now() / 1000) < 120, `start time ${started}`);
    assert.equal(sum(samples, 'switchyard_access_log_dropped_total'), 0);
  });

  test('label values come from the configuration only', () => {
    const allowed = {
      model: new Set(['', 'm', 'flaky']),
      deployment: new Set(['', M_DEP, FLAKY_DOWN, FLAKY_UP]),
      provider: new Set(['', 'mock']),
    };
    for (const s of samples) {
      for (const [k, set] of Object.entries(allowed)) {
        if (k in s.labels) assert.ok(set.has(s.labels[k]), `${s.name}: ${k}="${s.labels[k]}"`);
      }
    }
    assert.ok(!text.includes('no-such-model'), 'a model name from a request never becomes a label');
  });

  test('a client that leaves before the answer counts as 4xx (499)', async () => {
    const mock2 = await startMock();
    const gw2 = await startGateway(config({
      server: { workers: 1 },
      providers: [{ name: 'mock', url: mock2.url }],
      models: { slow: ['slow?latency_ms=1000'] },
    }));
    try {
      const waiting = post(gw2, chatBody('slow')).then(async (r) => { await r.text(); return r.status; });
      const ac = new AbortController();
      const leaving = fetch(`${gw2.url}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('slow'), signal: ac.signal,
      }).catch((e) => e);
      await sleep(200);
      ac.abort();
      assert.equal((await leaving).name, 'AbortError');
      assert.equal(await waiting, 200);
      let s = [];
      for (let i = 0; i < 100; i++) {
        s = parseExposition(await scrape(gw2));
        if (sum(s, 'switchyard_requests_total', { model: 'slow' }) >= 2) break;
        await sleep(50);
      }
      const req = (cls) => sum(s, 'switchyard_requests_total', { endpoint: 'chat.completions', model: 'slow', status_class: cls });
      assert.equal(req('4xx'), 1, 'the client that left');
      assert.equal(req('2xx'), 1, 'the one that waited');
      assert.equal(sum(s, 'switchyard_upstream_attempts_total', { model: 'slow', outcome: 'cancelled' }), 1);
      assert.equal(sum(s, 'switchyard_upstream_attempts_total', { model: 'slow', outcome: 'success' }), 1);
      assert.equal(sum(s, 'switchyard_upstream_errors_total', {}), 0, 'a cancelled attempt is not a provider error');
    } finally {
      await gw2.stop();
      await mock2.stop();
    }
  });
});

// ---- c: the real Prometheus ------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

const deadline = (ms) => Date.now() + ms;
let prom = null;
let promLog = '';

// Mock, gateway and a Prometheus scraping it every second, on loopback only. Started
// when the file loads, so that Prometheus's first scrape (its target discovery sends the
// first target list about 5 s after start) overlaps with the tests above.
async function startPrometheusStack() {
  requireBinary(PROMETHEUS);
  const mock = await startMock();
  const gw = await startGateway(gatewayConfig(mock));
  const dir = tmpDir();
  const port = await freePort();
  const promUrl = `http://127.0.0.1:${port}`;
  const file = path.join(dir, 'prometheus.yml');
  writeFileSync(file, [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    'rule_files:',
    `  - ${JSON.stringify(ALERTS)}`,
    'scrape_configs:',
    '  - job_name: switchyard',
    '    metrics_path: /metrics',
    '    static_configs:',
    `      - targets: ["127.0.0.1:${gw.port}"]`,
    '',
  ].join('\n'));
  prom = spawn(PROMETHEUS, [
    `--config.file=${file}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  prom.stdout.on('data', (d) => { promLog += d; });
  prom.stderr.on('data', (d) => { promLog += d; });
  prom.exited = new Promise((r) => prom.on('exit', (code, signal) => r({ code, signal })));
  for (const end = deadline(20000); ;) {
    if (prom.exitCode !== null) throw new Error(`prometheus exited ${prom.exitCode}:\n${promLog}`);
    try {
      const res = await fetch(`${promUrl}/-/ready`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > end) throw new Error(`prometheus not ready after 20 s:\n${promLog}`);
    await sleep(100);
  }
  return { mock, gw, promUrl };
}
const stack = startPrometheusStack().then((s) => ({ s }), (error) => ({ error }));

after(async () => {
  if (prom && prom.exitCode === null && prom.signalCode === null) {
    prom.kill('SIGTERM');
    const t = setTimeout(() => prom.kill('SIGKILL'), 5000);
    await prom.exited;
    clearTimeout(t);
  }
});
process.on('exit', () => { if (prom && prom.exitCode === null) prom.kill('SIGKILL'); });

describe('the real Prometheus', () => {
  let gw, promUrl;

  async function api(pathAndQuery) {
    const res = await fetch(`${promUrl}${pathAndQuery}`, { signal: AbortSignal.timeout(5000) });
    const body = await res.json();
    assert.equal(body.status, 'success', `${pathAndQuery}: ${JSON.stringify(body)}`);
    return body.data;
  }
  const query = async (q) => (await api(`/api/v1/query?query=${encodeURIComponent(q)}`)).result;
  const scalar = async (q) => {
    const r = await query(q);
    return r.length === 1 ? Number(r[0].value[1]) : null;
  };

  // Each test fails on its own (not the suite hook) when the stack did not start, so a
  // missing prometheus binary shows up as failed tests in the summary.
  let startError = null;
  before(async () => {
    const { s, error } = await stack;
    if (error) startError = error;
    else ({ gw, promUrl } = s);
  });
  const started = () => { if (startError) throw startError; };

  test('scrapes the gateway and answers PromQL over what was sent', async () => {
    started();
    await sendLoad(gw);
    const sent = LOAD.plain + LOAD.streams;
    const q = 'sum(switchyard_requests_total{endpoint="chat.completions",model="m"})';
    let seen = null;
    for (const end = deadline(30000); ;) {
      seen = await scalar(q);
      if (seen === sent) break;
      assert.ok(Date.now() < end, `after 30 s Prometheus says ${q} = ${seen}, expected ${sent}\n${promLog}`);
      await sleep(250);
    }
    // The counters are scraped together, so one scrape holds the whole load.
    assert.equal(await scalar('sum(switchyard_ttft_seconds_count{model="m"})'), LOAD.streams);
    assert.equal(await scalar('sum(switchyard_requests_total{endpoint="chat.completions",model="flaky",status_class="2xx"})'), LOAD.flaky);
    assert.equal(await scalar('sum(switchyard_upstream_errors_total{model="flaky",reason="status_5xx"})'), LOAD.flaky);
    assert.equal(await scalar('sum(switchyard_failovers_total{model="flaky",outcome="answered"})'), LOAD.flaky);
    const p50 = await scalar('histogram_quantile(0.5, sum by (le) (switchyard_ttft_seconds_bucket{model="m"}))');
    assert.ok(Number.isFinite(p50) && p50 > 0 && p50 < 60, `TTFT p50 ${p50}`);
    const p99 = await scalar('histogram_quantile(0.99, sum by (le) (switchyard_request_duration_seconds_bucket{model="m"}))');
    assert.ok(Number.isFinite(p99) && p99 > 0 && p99 < 60, `request duration p99 ${p99}`);
    const up = await query('up{job="switchyard"}');
    assert.equal(up.length, 1);
    assert.equal(up[0].metric.instance, `127.0.0.1:${gw.port}`);
    assert.equal(up[0].value[1], '1');
    const targets = await api('/api/v1/targets?state=active');
    assert.equal(targets.activeTargets.length, 1);
    assert.equal(targets.activeTargets[0].health, 'up', targets.activeTargets[0].lastError);
    assert.equal(await scalar('max(switchyard_build_info)'), 1);
  });

  test('loads the project\'s alert rules, all healthy, none firing', async () => {
    started();
    let rules = [];
    for (const end = deadline(15000); ;) {
      const groups = (await api('/api/v1/rules')).groups;
      rules = groups.flatMap((g) => g.rules.map((r) => ({ ...r, group: g.name, file: g.file })));
      if (rules.length === ALERT_NAMES.length && rules.every((r) => r.health === 'ok')) break;
      assert.ok(Date.now() < end, `rules after 15 s: ${JSON.stringify(rules.map((r) => [r.name, r.health, r.lastError]))}`);
      await sleep(250);
    }
    assert.deepEqual(rules.map((r) => r.name).sort(), [...ALERT_NAMES].sort());
    for (const r of rules) {
      assert.equal(r.type, 'alerting', r.name);
      assert.equal(r.group, 'switchyard');
      assert.equal(r.file, ALERTS);
      assert.ok(['warning', 'critical'].includes(r.labels.severity), `${r.name} severity`);
      assert.ok(r.annotations.summary && r.annotations.description, `${r.name} annotations`);
      assert.ok(r.duration > 0, `${r.name} has a for:`);
    }
    // Nothing in this load is an alert (pending or firing): no 5xx to clients, breakers
    // closed, no queue, the target up.
    const firing = (await api('/api/v1/alerts')).alerts;
    assert.deepEqual(firing.map((a) => `${a.labels.alertname} ${a.state}`), []);
  });

  test('every dashboard query is valid PromQL and the main panels have data', async () => {
    started();
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    assert.equal(dash.templating.list[0].name, 'model');
    const exprs = [];
    const walk = (panels) => {
      for (const p of panels) {
        if (p.panels) walk(p.panels);
        for (const t of p.targets || []) {
          assert.deepEqual(t.datasource, { type: 'prometheus', uid: 'prometheus' }, p.title);
          exprs.push({ title: p.title, expr: t.expr });
        }
        if (p.type !== 'row') assert.deepEqual(p.datasource, { type: 'prometheus', uid: 'prometheus' }, p.title);
      }
    };
    walk(dash.panels);
    assert.ok(exprs.length >= 30, `${exprs.length} queries`);
    // rate() needs two samples of a series: wait for a second scrape after the load.
    for (const end = deadline(15000); ;) {
      if ((await scalar('min(count_over_time(switchyard_requests_total{model="m"}[1m]))')) >= 2) break;
      assert.ok(Date.now() < end, 'no second scrape within 15 s');
      await sleep(250);
    }
    // Grafana's variables, as Grafana would substitute them.
    const subst = (e) => e.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '5m').replaceAll('$model', '.*');
    const empty = [];
    for (const { title, expr } of exprs) {
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(subst(expr))}`, { signal: AbortSignal.timeout(5000) });
      const body = await res.json();
      assert.equal(body.status, 'success', `${title}: ${expr}: ${body.error}`);
      if (body.data.result.length === 0) empty.push(title);
    }
    // Panels about what this load did must show it.
    for (const title of ['Requests/s by model', 'Requests/s by status class', 'TTFT p50 / p95 by model',
      'Request duration p50 / p95 / p99 by model', 'Upstream errors/s by reason', 'Failovers/s by outcome',
      'Tokens/s by direction', 'Cost USD/h by model', 'Health score by deployment', 'Circuit breaker state by deployment',
      'Pool connections by provider', 'Version', 'Workers']) {
      assert.ok(!empty.includes(title), `panel "${title}" has no data`);
    }
  });
});
