// The live status page (issue 7, item 5): GET /admin/status has one entry per deployment
// with what it answered, its upstream attempts and errors and its breaker; GET /status,
// rendered by a real headless Chromium with the admin key in the URL fragment, shows a row
// per deployment with the open breaker and the healthy one at 100 %. A screenshot of it
// goes to docs/img/status.png when SWITCHYARD_UPDATE_SCREENSHOT=1.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT, chatBody, config, post, readSse, sleep, startGateway, startMock, tmpDir } from './harness.mjs';

const CHROMIUM = '/usr/bin/chromium';
const KEY = 'adm-status';

// What the test sends: the page must show exactly these counts.
const FAST = 'mock/ok?tokens=3';
const DOWN = 'mock/down?status=500';
const UP = 'mock/up?tokens=2';
const DEAD = 'mock/dead?status=503';
const SENT = { fast: 3, fastStreams: 3, flaky: 2, broken: 4 };

let mock, gw;
let deadAttempts;  // requests for the broken deployment that reached the mock
const adminStatus = (headers = { authorization: `Bearer ${KEY}` }) => fetch(`${gw.url}/admin/status`, { headers });
const byDeployment = (s) => Object.fromEntries(s.deployments.map((d) => [d.deployment, d]));

before(async () => {
  mock = await startMock();
  gw = await startGateway(config({
    server: { workers: 2 },
    providers: [{ name: 'mock', url: mock.url }],
    models: {
      fast: [{ provider: 'mock', model: 'ok?tokens=3', price: { input: 150, output: 600 } }],
      flaky: ['down?status=500', 'up?tokens=2'],
      broken: ['dead?status=503'],
    },
    // Two attempts per request: `flaky` fails over once, `broken` fails twice; its breaker
    // opens after 4 failures on a worker, and as its only deployment is then unhealthy the
    // plan is in panic, which still tries it (how many attempts it gets depends on how the
    // connections fall on the workers); `down` fails only twice and stays closed.
    routing: {
      retry: { max_attempts: 2, backoff_ms: 10, max_backoff_ms: 20 },
      breaker: { failures: 4, window_ms: 60000, cooldown_ms: 60000 },
    },
    admin: { key: KEY },
  }));

  for (let i = 0; i < SENT.fast; i++) {
    const res = await post(gw, chatBody('fast'));
    assert.equal(res.status, 200);
    await res.json();
  }
  for (let i = 0; i < SENT.fastStreams; i++) {
    const res = await post(gw, chatBody('fast', { stream: true }));
    assert.equal(res.status, 200);
    const { events } = await readSse(res);
    assert.equal(events.at(-1), '[DONE]');
  }
  for (let i = 0; i < SENT.flaky; i++) {
    const res = await post(gw, chatBody('flaky', i % 2 ? { stream: true } : {}));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-switchyard-attempts'), '2', 'the first deployment failed, the second answered');
    await res.text();
  }
  await mock.reset();
  for (let i = 0; i < SENT.broken; i++) {
    const res = await post(gw, chatBody('broken'));
    assert.ok(res.status >= 500, `broken: ${res.status}`);
    await res.text();
  }
  deadAttempts = (await mock.requests()).filter((q) => JSON.parse(q.body).model === 'dead?status=503').length;
  // Breaker state and health reach the status through the workers' summaries (every
  // 100 ms): wait for them, with every attempt the mock saw, rather than race them.
  for (let i = 0; i < 50; i++) {
    const by = byDeployment(await (await adminStatus()).json());
    if (by[DEAD]?.breaker === 'open' && by[DEAD]?.health_samples === deadAttempts &&
        by[FAST]?.health_samples > 0) break;
    await sleep(100);
  }
});
after(async () => { await gw?.stop?.(); await mock?.stop?.(); });

test('GET /admin/status needs the admin key', async () => {
  assert.equal((await adminStatus({})).status, 401);
  assert.equal((await adminStatus({ authorization: 'Bearer wrong' })).status, 401);
});

test('GET /admin/status: a row per deployment with what it answered, its attempts and its breaker', async () => {
  const res = await adminStatus();
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /application\/json/);
  const s = await res.json();
  assert.equal(s.workers, 2);
  assert.equal(s.ttft_buckets_s.length, 16);
  assert.equal(s.totals.requests, SENT.fast + SENT.fastStreams + SENT.flaky + SENT.broken);
  assert.equal(s.totals.requests_5xx, SENT.broken);
  const by = byDeployment(s);
  assert.deepEqual(Object.keys(by).sort(), [DEAD, DOWN, FAST, UP].sort());
  assert.deepEqual(s.deployments.map((d) => d.model).sort(), ['broken', 'fast', 'flaky', 'flaky']);

  const fast = by[FAST];
  assert.equal(fast.requests, SENT.fast + SENT.fastStreams);
  assert.equal(fast.requests_5xx, 0);
  assert.equal(fast.attempts, SENT.fast + SENT.fastStreams);
  assert.equal(fast.upstream_errors, 0);
  assert.equal(fast.breaker, 'closed');
  assert.equal(fast.health, 1);
  assert.equal(fast.ttft.count, SENT.fastStreams, 'a TTFT sample per stream');
  assert.equal(fast.ttft.buckets.length, 17);
  assert.equal(fast.ttft.buckets.reduce((a, b) => a + b, 0), SENT.fastStreams);
  assert.ok(fast.cost_usd > 0, 'priced deployment: spend counted');
  assert.ok(fast.output_tokens >= 3 * (SENT.fast + SENT.fastStreams));

  assert.equal(by[DOWN].requests, 0, 'it answered nothing');
  assert.equal(by[DOWN].attempts, SENT.flaky);
  assert.equal(by[DOWN].upstream_errors, SENT.flaky);
  assert.equal(by[DOWN].breaker, 'closed', '2 failures: under the threshold');
  assert.equal(by[UP].requests, SENT.flaky);
  assert.equal(by[UP].attempts, SENT.flaky);
  assert.equal(by[UP].upstream_errors, 0);

  const dead = by[DEAD];
  assert.equal(dead.breaker, 'open');
  assert.equal(dead.requests, 0, 'it answered none: the failed requests count in the totals only');
  assert.ok(deadAttempts >= 4 && deadAttempts <= 2 * SENT.broken, `the mock saw ${deadAttempts} attempts`);
  assert.equal(dead.attempts, deadAttempts, 'every attempt that reached the provider');
  assert.equal(dead.upstream_errors, deadAttempts, 'every attempt failed');
  assert.equal(dead.health, 0);
  assert.equal(dead.health_samples, deadAttempts);
  const answered = s.deployments.reduce((n, d) => n + d.requests, 0);
  assert.equal(answered, SENT.fast + SENT.fastStreams + SENT.flaky);
});

// ---- the page in a real browser ----

function chromium(args) {
  return new Promise((resolve, reject) => {
    if (!existsSync(CHROMIUM)) {
      reject(new Error(`${CHROMIUM} is missing: install Debian's chromium package (scripts install it)`));
      return;
    }
    const profile = tmpDir();
    const flags = [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic',
      `--user-data-dir=${profile}`,
      // Virtual time runs the page's 2 s poll timers at once but waits for each fetch.
      '--virtual-time-budget=5000',
      ...args,
    ];
    execFile(CHROMIUM, flags, { timeout: 60000, maxBuffer: 16 << 20, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      rmSync(profile, { recursive: true, force: true });
      if (err) reject(new Error(`chromium failed: ${err.message}\n${stderr.slice(-2000)}`));
      else resolve(stdout);
    });
  });
}

const decode = (s) => s.replace(/<[^>]*>/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"')
  .replace(/&#39;/g, "'").replace(/&nbsp;/g, ' ').replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();
const attrs = (s) => Object.fromEntries([...s.matchAll(/([\w-]+)="([^"]*)"/g)].map((m) => [m[1], decode(m[2])]));

// The rows of the dumped DOM: { attrs of the <tr>, text of each td by its class }.
function rows(dom) {
  const out = [];
  for (const m of dom.matchAll(/<tr\b([^>]*\bdata-deployment="[^"]*"[^>]*)>([\s\S]*?)<\/tr>/g)) {
    const cells = {};
    for (const c of m[2].matchAll(/<td\b[^>]*\bclass="([^"]*)"[^>]*>([\s\S]*?)<\/td>/g)) {
      cells[c[1].split(/\s+/)[0]] = decode(c[2]);
    }
    out.push({ attrs: attrs(m[1]), cells });
  }
  return out;
}

test('GET /status in headless Chromium shows a row per deployment', async () => {
  const page = await fetch(`${gw.url}/status`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /text\/html/);
  assert.match(page.headers.get('content-security-policy'), /default-src 'none'/);
  await page.text();

  const dom = await chromium(['--dump-dom', `http://127.0.0.1:${gw.port}/status#key=${KEY}`]);
  const bodyAttrs = attrs(/<body\b([^>]*)>/.exec(dom)?.[1] ?? '');
  assert.ok(bodyAttrs['data-updated'], `the page rendered a poll (body: ${JSON.stringify(bodyAttrs)})`);
  assert.ok(Number(bodyAttrs['data-updated']) > 1.7e12, 'data-updated is the gateway clock in ms');
  assert.equal(bodyAttrs['data-rows'], '4');
  assert.equal(bodyAttrs['data-status'], 'ok');

  const got = rows(dom);
  assert.equal(got.length, 4, 'one row per configured deployment');
  // Grouped by model, then deployment.
  assert.deepEqual(got.map((r) => [r.attrs['data-model'], r.attrs['data-deployment']]),
    [['broken', DEAD], ['fast', FAST], ['flaky', DOWN], ['flaky', UP]]);
  for (const r of got) {
    assert.equal(r.cells.model, r.attrs['data-model']);
    assert.equal(r.cells.deployment, r.attrs['data-deployment']);
    for (const c of ['health', 'breaker', 'ttft', 'latency', 'rps', 'errors', 'spend', 'headroom']) {
      assert.ok(r.cells[c], `${r.attrs['data-deployment']}: td.${c} has text`);
    }
  }
  const by = Object.fromEntries(got.map((r) => [r.attrs['data-deployment'], r]));

  const dead = by[DEAD];
  assert.equal(dead.attrs['data-breaker'], 'open');
  assert.equal(dead.cells.breaker, 'open');
  assert.equal(dead.attrs['data-requests'], '0');
  assert.equal(dead.attrs['data-health'], '0.000');
  assert.match(dead.cells.health, /^0% failing$/);
  assert.equal(dead.cells.errors.replace(/\*$/, ''), '100%', 'every attempt failed');

  const fast = by[FAST];
  assert.equal(fast.attrs['data-breaker'], 'closed');
  assert.equal(fast.cells.breaker, 'closed');
  assert.equal(fast.attrs['data-health'], '1.000');
  assert.match(fast.cells.health, /^100% healthy$/);
  assert.equal(fast.attrs['data-requests'], String(SENT.fast + SENT.fastStreams));
  assert.match(fast.cells.ttft, /^\d[\d.,]* \/ \d[\d.,]* ms\*?$/, 'TTFT p50 / p95 from the streams');
  assert.match(fast.cells.errors, /^0%\*?$/);
  assert.match(fast.cells.spend, /^\$/);

  assert.equal(by[DOWN].attrs['data-requests'], '0');
  assert.equal(by[UP].attrs['data-requests'], String(SENT.flaky));
  assert.equal(by[DOWN].cells.breaker, 'closed');
});

test('GET /status with a wrong key says so and asks for the key', async () => {
  const dom = await chromium(['--dump-dom', `http://127.0.0.1:${gw.port}/status#key=not-the-key`]);
  assert.match(dom, /<body\b[^>]*data-status="refused"/);
  assert.match(dom, /admin key refused/);
  assert.match(dom, /<form\b[^>]*class="show"/);
  assert.equal(rows(dom).length, 0);
});

test('a screenshot of GET /status', async () => {
  const dir = tmpDir();
  const png = path.join(dir, 'status.png');
  await chromium(['--window-size=1280,800', '--hide-scrollbars', `--screenshot=${png}`,
    `http://127.0.0.1:${gw.port}/status#key=${KEY}`]);
  assert.ok(existsSync(png), 'chromium wrote the screenshot');
  const size = statSync(png).size;
  assert.ok(size > 10 * 1024, `a real page, not a blank one: ${size} bytes`);
  if (process.env.SWITCHYARD_UPDATE_SCREENSHOT === '1') {
    mkdirSync(path.join(ROOT, 'docs/img'), { recursive: true });
    copyFileSync(png, path.join(ROOT, 'docs/img/status.png'));
  }
  rmSync(dir, { recursive: true, force: true });
});
