// The router through the real gateway: task classification, quality and tier filters,
// cost ranking, the route header, the circuit breaker (open, half-open, slow start) and
// Retry-After. One worker, so every request sees the same live stats.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { chatBody, config, post, sleep, startGateway, startMock } from './harness.mjs';

let mock;
const dep = (model, quality, input, output, extra = {}) => ({
  provider: 'mock', model, quality, price: { input, output }, ...extra,
});
const routing = {
  default_task: 'general',
  tasks: [
    { name: 'code', min_quality: 0.8, when: { regex: '```|\\bdef |#include' } },
    { name: 'long', min_quality: 0.7, when: { min_prompt_tokens: 3000 } },
  ],
  tiers: { free: { max_quality: 0.7 } },
  retry: { max_attempts: 3, backoff_ms: 10, max_backoff_ms: 50 },
  breaker: { failures: 3, window_ms: 10000, cooldown_ms: 600 },
};

async function ask(gw, model, { content = 'hello', headers = {} } = {}) {
  const res = await post(gw, JSON.stringify({ model, messages: [{ role: 'user', content }] }), headers);
  const body = await res.json();
  return {
    status: res.status, body,
    deployment: res.headers.get('x-switchyard-deployment'),
    attempts: res.headers.get('x-switchyard-attempts'),
    route: res.headers.get('x-switchyard-route'),
  };
}

before(async () => { mock = await startMock(); });

// One worker, strategy score, premium / cheap / mid with the shared routing rules.
function startThreeTier(extra = {}) {
  return startGateway(config({
    server: { workers: 1 },
    strategy: 'score',
    providers: [{ name: 'mock', url: mock.url }],
    models: {
      chat: [dep('premium', 0.95, 5, 15), dep('cheap', 0.5, 0.1, 0.4), dep('mid', 0.75, 1, 4)],
    },
    routing,
    ...extra,
  }));
}

describe('scoring by task, quality, cost and tier', () => {
  let gw;
  before(async () => {
    gw = await startThreeTier();
  });

  test('easy chat goes to the cheapest deployment, and the route header says why', async () => {
    const r = await ask(gw, 'chat');
    assert.equal(r.status, 200);
    assert.equal(r.deployment, 'mock/cheap');
    assert.match(r.route, /^task=general; strategy=score; score=[\d.]+ cost=[\d.]+ latency=[\d.]+ health=[\d.]+ headroom=[\d.]+; candidates=3/);
  });

  test('code (by regex on the last user message) needs min_quality 0.8: premium', async () => {
    const r = await ask(gw, 'chat', { content: 'Fix this:\n```python\ndef f(): pass\n```' });
    assert.equal(r.deployment, 'mock/premium');
    assert.match(r.route, /^task=code; .*candidates=1/);
  });

  test('a long prompt (min_prompt_tokens) needs 0.7: the cheapest good enough is mid', async () => {
    const r = await ask(gw, 'chat', { content: 'word '.repeat(4000) });
    assert.equal(r.deployment, 'mock/mid');
    assert.match(r.route, /^task=long; /);
  });

  test('x-switchyard-task names the task; an unknown one is a 400', async () => {
    const r = await ask(gw, 'chat', { headers: { 'x-switchyard-task': 'code' } });
    assert.equal(r.deployment, 'mock/premium');
    const bad = await ask(gw, 'chat', { headers: { 'x-switchyard-task': 'poetry' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'unknown_task');
  });

  test('a tier narrows the deployments; a task it cannot serve gets 503 no_route', async () => {
    const r = await ask(gw, 'chat', { content: 'word '.repeat(4000), headers: { 'x-switchyard-tier': 'free' } });
    assert.equal(r.status, 503);
    assert.equal(r.body.error.code, 'no_route');
    const ok = await ask(gw, 'chat', { headers: { 'x-switchyard-tier': 'free' } });
    assert.equal(ok.deployment, 'mock/cheap');
    const bad = await ask(gw, 'chat', { headers: { 'x-switchyard-tier': 'platinum' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'unknown_tier');
  });
});

describe('health steers traffic before any breaker opens', () => {
  test('one failure makes a cheap deployment lose to a healthy one (health weight)', async () => {
    const gw = await startGateway(config({
      server: { workers: 1 },
      strategy: 'score',
      providers: [{ name: 'mock', url: mock.url }],
      models: { m: [dep('broken?status=500', 0.9, 0.1, 0.1), dep('fine', 0.9, 5, 5)] },
      routing,
    }));
    const first = await ask(gw, 'm');
    assert.equal(first.attempts, '2', 'the cheap one is tried first and fails over');
    const second = await ask(gw, 'm');
    assert.equal(second.attempts, '1', 'its success rate now ranks it behind the healthy one');
    assert.equal(second.deployment, 'mock/fine');
    await gw.stop();
  });
});

// Cost-only weights: health does not steer here, so what moves traffic is the breaker
// and Retry-After alone.
const costOnly = { ...routing, weights: { cost: 1, latency: 0, health: 0, headroom: 0 } };

describe('health: circuit breaker and Retry-After', () => {
  test('a failing deployment stops getting traffic, is probed after the cooldown, and comes back', async () => {
    const healsAt = Date.now() + 2500;
    const gw = await startGateway(config({
      server: { workers: 1 },
      strategy: 'score',
      providers: [{ name: 'mock', url: mock.url }],
      models: { m: [dep(`flaky?fail_until_ms=${healsAt}`, 0.9, 0.1, 0.1), dep('steady', 0.9, 5, 5)] },
      routing: costOnly,
    }));
    await mock.reset();
    const flakySeen = async () => (await mock.requests()).filter((q) => JSON.parse(q.body).model.startsWith('flaky')).length;
    // Cheapest first: the flaky one is tried and fails over, until its breaker opens (3).
    for (let i = 0; i < 3; i++) {
      const r = await ask(gw, 'm');
      assert.equal(r.status, 200);
      assert.equal(r.deployment, 'mock/steady');
      assert.equal(r.attempts, '2');
    }
    assert.equal(await flakySeen(), 3);
    // Open: the flaky deployment gets nothing, the answer needs one attempt.
    for (let i = 0; i < 5; i++) {
      const r = await ask(gw, 'm');
      assert.equal(r.attempts, '1', 'no attempt on an open breaker');
      assert.equal(r.deployment, 'mock/steady');
    }
    assert.equal(await flakySeen(), 3);
    // After the cooldown (600 ms ± jitter) one probe goes through; it still fails → reopens.
    await sleep(800);
    await ask(gw, 'm');
    assert.equal(await flakySeen(), 4, 'exactly one half-open probe');
    // Wait until the provider heals and the (now longer) cooldown has passed.
    while (Date.now() < healsAt + 1500) await sleep(100);
    let back = 0;
    for (let i = 0; i < 60 && back === 0; i++) {
      const r = await ask(gw, 'm');
      if (r.deployment.startsWith('mock/flaky')) back++;
      await sleep(30);
    }
    assert.equal(back, 1, 'the healed deployment answers again');
    // Slow start: right after closing it gets only part of the traffic it would win.
    let flaky = 0;
    for (let i = 0; i < 40; i++) if ((await ask(gw, 'm')).deployment.startsWith('mock/flaky')) flaky++;
    assert.ok(flaky > 0 && flaky < 40, `ramping share: ${flaky}/40`);
    await gw.stop();
  });

  test('a 429 with Retry-After moves traffic away until it expires', async () => {
    const gw = await startGateway(config({
      server: { workers: 1 },
      strategy: 'score',
      providers: [{ name: 'mock', url: mock.url }],
      models: { m: [dep('limited?status=429&retry_after=1', 0.9, 0.1, 0.1), dep('other', 0.9, 5, 5)] },
      routing: costOnly,
    }));
    const first = await ask(gw, 'm');
    assert.equal(first.deployment, 'mock/other');
    assert.equal(first.attempts, '2');
    const during = await ask(gw, 'm');
    assert.equal(during.attempts, '1', 'the rate-limited deployment is skipped');
    await sleep(1200);
    const after = await ask(gw, 'm');
    assert.equal(after.attempts, '2', 'tried again once Retry-After has passed');
    await gw.stop();
  });
});

describe('POST /admin/route/explain', () => {
  let gw;
  before(async () => {
    gw = await startThreeTier({ admin: { key: 'adm-secret-1' } });
  });

  const explain = (body, headers = {}) => fetch(`${gw.url}/admin/route/explain`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body,
  });

  test('needs the admin key', async () => {
    assert.equal((await explain(chatBody('chat'))).status, 401);
    assert.equal((await explain(chatBody('chat'), { authorization: 'Bearer wrong' })).status, 401);
  });

  test('returns the whole ranking without calling upstream, and agrees with the real route', async () => {
    await mock.reset();
    const body = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'word '.repeat(4000) }] });
    const res = await explain(body, { authorization: 'Bearer adm-secret-1' });
    assert.equal(res.status, 200);
    const j = await res.json();
    assert.equal((await mock.requests()).length, 0, 'nothing sent upstream');
    assert.equal(j.task, 'long');
    assert.equal(j.min_quality, 0.7);
    assert.deepEqual(j.plan.map((p) => p.deployment), ['mock/mid', 'mock/premium']);
    assert.ok(j.plan[0].score <= j.plan[1].score);
    for (const p of j.plan) for (const k of ['cost', 'latency', 'health', 'headroom']) assert.equal(typeof p.parts[k], 'number');
    assert.deepEqual(j.excluded.map((e) => [e.deployment, e.reason]), [['mock/cheap', "quality below the task's min_quality"]]);
    // The same request for real goes where the explanation said, with the same header.
    const real = await post(gw, body);
    await real.json();
    assert.equal(real.headers.get('x-switchyard-deployment'), j.plan[0].deployment);
    assert.match(real.headers.get('x-switchyard-route'), /^task=long; strategy=score; /);
    assert.match(j.route, /^task=long; strategy=score; /);
  });

  test('admin API is off without admin.key', async () => {
    const other = await startGateway(config({ providers: [{ name: 'mock', url: mock.url }], models: { m: ['x'] } }));
    const res = await fetch(`${other.url}/admin/route/explain`, { method: 'POST', body: chatBody('m') });
    assert.equal(res.status, 404);
    await other.stop();
  });
});

describe('workers share what they learn', () => {
  test('a breaker tripped on one worker keeps every worker away within ~100 ms', async () => {
    const http = await import('node:http');
    const gw = await startGateway(config({
      server: { workers: 2 },
      strategy: 'score',
      providers: [{ name: 'mock', url: mock.url }],
      models: { m: [dep('down?status=500', 0.9, 0.1, 0.1), dep('up', 0.9, 5, 5)] },
      // A cooldown far longer than the test, so no half-open probe can slip in however slow
      // the machine is.
      routing: { ...costOnly, breaker: { ...routing.breaker, cooldown_ms: 20000 } },
    }));
    const send = (agent) => new Promise((resolve, reject) => {
      const body = chatBody('m');
      const req = http.request({
        host: '127.0.0.1', port: gw.port, method: 'POST', path: '/v1/chat/completions', agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.headers['x-switchyard-attempts']));
      });
      req.on('error', reject);
      req.end(body);
    });
    await mock.reset();
    // One keep-alive connection: all on one worker, which trips after 3 failures.
    const pinned = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 3; i++) assert.equal(await send(pinned), '2');
    pinned.destroy();
    const seen = async () => (await mock.requests()).filter((q) => JSON.parse(q.body).model.startsWith('down')).length;
    assert.equal(await seen(), 3);
    await sleep(300);  // a few publication rounds
    // Fresh connections land on both workers (SO_REUSEPORT); none may try the open one.
    const attempts = [];
    for (let i = 0; i < 20; i++) attempts.push(await send(false));
    assert.deepEqual(attempts, Array(20).fill('1'));
    assert.equal(await seen(), 3, 'no worker sent anything more to the tripped deployment');
    await gw.stop();
  });
});

describe('max_rpm: local caps per deployment', () => {
  test('a capped deployment takes its max_rpm, then traffic moves on; explain says why', async () => {
    const gw = await startGateway(config({
      server: { workers: 2 },
      strategy: 'score',
      providers: [{ name: 'mock', url: mock.url }],
      models: { chat: [dep('cheap', 0.5, 0.1, 0.4, { max_rpm: 3 }), dep('premium', 0.95, 5, 15)] },
      routing,
      admin: { key: 'adm-rpm' },
    }));
    try {
      const got = [];
      // Fresh connections land on both workers: the cap is one per process, not per worker.
      for (let i = 0; i < 6; i++) got.push((await ask(gw, 'chat', { headers: { connection: 'close' } })).deployment);
      assert.deepEqual(got, ['mock/cheap', 'mock/cheap', 'mock/cheap', 'mock/premium', 'mock/premium', 'mock/premium']);
      const explain = await (await fetch(`${gw.url}/admin/route/explain`, {
        method: 'POST', headers: { authorization: 'Bearer adm-rpm' }, body: chatBody('chat'),
      })).json();
      assert.deepEqual(explain.excluded.map((e) => [e.deployment, e.reason]), [['mock/cheap', 'local max_rpm reached']]);
    } finally {
      await gw.stop();
    }
  });

  test('when every deployment is at its cap the client gets a 429 with Retry-After', async () => {
    const gw = await startGateway(config({
      server: { workers: 2 },
      providers: [{ name: 'mock', url: mock.url }],
      models: { solo: [dep('only', 0.5, 1, 1, { max_rpm: 2 })] },
    }));
    try {
      const statuses = [];
      let last;
      for (let i = 0; i < 4; i++) {
        last = await post(gw, chatBody('solo'), { connection: 'close' });
        statuses.push(last.status);
        if (last.status === 429) {
          const body = await last.json();
          assert.equal(body.error.code, 'rate_limit_exceeded');
          assert.match(body.error.message, /max_rpm/);
          const ra = Number(last.headers.get('retry-after'));
          assert.ok(ra >= 1 && ra <= 30, `Retry-After ${ra}`);  // one request per 30 s refills
        } else {
          await last.text();
        }
      }
      assert.deepEqual(statuses, [200, 200, 429, 429]);
    } finally {
      await gw.stop();
    }
  });
});
