// Hedging (issue 4, item 7) through the real gateway and mock: a slow attempt gets a backup
// on the next deployment, the first answer wins, the loser's connection is closed (the mock
// sees its client hang up), streams race only up to their first content, the budget caps
// the share of hedged requests, and `hedge_after_ms: p95` hedges a deployment's slow tail.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  chatBody, config, expectedText, post, readSse, sleep, startGateway, startMock, streamText,
} from './harness.mjs';

let mock;
before(async () => { mock = await startMock(); });
after(() => mock?.stop?.());

// Waits until the mock's requests_abandoned reaches `n` (the loser's hang-up is noticed
// by the mock a moment after the winner answered), or gives up after ~3 s.
async function abandonedAtLeast(n) {
  let s;
  for (let i = 0; i < 60; i++) {
    s = await mock.stats();
    if (s.requests_abandoned >= n) break;
    await sleep(50);
  }
  return s.requests_abandoned;
}

// x-switchyard-deployment without the mock directives in the upstream model name.
const deployment = (res) => res.headers.get('x-switchyard-deployment')?.split('?')[0];

function hedgingGateway(deployments, { hedge = 100, routing = {}, workers = 1 } = {}) {
  return startGateway(config({
    server: { workers },
    strategy: 'fallback',
    providers: [{ name: 'mock', url: mock.url }],
    models: { m: deployments },
    modelOptions: { m: { hedge_after_ms: hedge } },
    routing: { retry: { max_attempts: 3, backoff_ms: 10 }, hedge_max_fraction: 1, ...routing },
  }));
}

describe('hedge_after_ms: a fixed delay', () => {
  let gw;
  before(async () => {
    gw = await hedgingGateway(['slow?latency_ms=3000', 'fast?tokens=4']);
  });
  after(() => gw?.stop?.());

  test('a slow head gets a backup on the next deployment; the backup answers', async () => {
    await mock.reset();
    const t0 = Date.now();
    const res = await post(gw, chatBody('m'));
    const body = await res.json();
    const ms = Date.now() - t0;
    assert.equal(res.status, 200);
    assert.equal(deployment(res), 'mock/fast');
    assert.equal(res.headers.get('x-switchyard-hedge'), 'backup-won');
    assert.equal(res.headers.get('x-switchyard-attempts'), '2');
    assert.equal(body.choices[0].message.content, expectedText(4));
    assert.ok(ms >= 90 && ms < 2000, `answered in ${ms} ms: after the hedge delay, long before the slow head`);
    // The loser's connection was closed, so the slow provider stops working on it.
    assert.equal(await abandonedAtLeast(1), 1);
    const s = await mock.stats();
    assert.equal(s.requests, 2, 'one primary, one backup');
  });

  test('streams race up to their first content; the loser is closed', async () => {
    // The slow deployment sends its head at once but its first token only after 3 s: a
    // head-only race would pick it; the stream race waits for content.
    await gw.stop();
    gw = await hedgingGateway(['slow?first_token_ms=3000', 'fast?tokens=5']);
    await mock.reset();
    const t0 = Date.now();
    const res = await post(gw, chatBody('m', { stream: true }));
    const { events } = await readSse(res);
    const ms = Date.now() - t0;
    assert.equal(res.status, 200);
    assert.equal(deployment(res), 'mock/fast');
    assert.equal(res.headers.get('x-switchyard-hedge'), 'backup-won');
    assert.equal(streamText(events), expectedText(5));
    assert.equal(events.at(-1), '[DONE]');
    assert.ok(ms < 2000, `finished in ${ms} ms`);
    assert.equal(await abandonedAtLeast(1), 1);
    const s = await mock.stats();
    assert.equal(s.streams_aborted, 1, 'the slow stream was cut by the gateway');
  });

  test('an Anthropic-dialect stream (/v1/messages) hedges too, and starts with message_start', async () => {
    // Both attempts translate their chunks into Anthropic events while they race: only the
    // winner's may reach the client, from its very first event.
    await gw.stop();
    gw = await hedgingGateway(['slow?first_token_ms=3000&tokens=5', 'fast?tokens=5']);
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'm', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-switchyard-hedge'), 'backup-won');
    const raw = await res.text();
    const events = raw.split('\n\n').filter(Boolean).map((b) => ({
      event: b.split('\n').find((l) => l.startsWith('event: '))?.slice(7),
      data: JSON.parse(b.split('\n').find((l) => l.startsWith('data: ')).slice(6)),
    }));
    assert.equal(events[0].event, 'message_start');
    assert.equal(events.filter((e) => e.event === 'message_start').length, 1);
    assert.equal(events.at(-1).event, 'message_stop');
    const text = events.filter((e) => e.event === 'content_block_delta').map((e) => e.data.delta.text).join('');
    assert.equal(text, expectedText(5));
  });

  test('no hedge when the first attempt answers in time', async () => {
    await gw.stop();
    gw = await hedgingGateway(['quick?latency_ms=10', 'other'], { hedge: 1000 });
    await mock.reset();
    for (let i = 0; i < 5; i++) {
      const res = await post(gw, chatBody('m'));
      await res.json();
      assert.equal(deployment(res), 'mock/quick');
      assert.equal(res.headers.get('x-switchyard-hedge'), null);
      assert.equal(res.headers.get('x-switchyard-attempts'), '1');
    }
    const s = await mock.stats();
    assert.equal(s.requests, 5);
    assert.equal(s.requests_abandoned, 0);
  });

  test('when the backup fails, the primary still answers', async () => {
    await gw.stop();
    gw = await hedgingGateway(['slowish?latency_ms=400&tokens=3', 'broken?status=500'], { hedge: 50 });
    await mock.reset();
    const res = await post(gw, chatBody('m'));
    const body = await res.json();
    assert.equal(res.status, 200);
    assert.equal(deployment(res), 'mock/slowish');
    assert.equal(res.headers.get('x-switchyard-hedge'), 'primary-won');
    assert.equal(body.choices[0].message.content, expectedText(3));
  });

  test('a client that leaves during a hedge closes both upstream connections', async () => {
    await gw.stop();
    gw = await hedgingGateway(['slow1?latency_ms=3000', 'slow2?latency_ms=3000'], { hedge: 50 });
    await mock.reset();
    const ac = new AbortController();
    const p = fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('m'), signal: ac.signal,
    }).catch((e) => e);
    await sleep(300);  // the primary and its backup are both waiting on the mock
    assert.equal((await mock.stats()).requests, 2);
    ac.abort();
    await p;
    assert.equal(await abandonedAtLeast(2), 2, 'both provider connections were closed');
    // The gateway is fine afterwards.
    const res = await post(gw, chatBody('m'), {});
    assert.equal(res.status, 200);
    await res.json();
  });
});

describe('hedge budget', () => {
  test('hedge_max_fraction caps the share of requests that hedge', async () => {
    const gw = await hedgingGateway(['slow?latency_ms=150', 'fast'], {
      hedge: 20, routing: { hedge_max_fraction: 0.1 },
    });
    try {
      let hedged = 0;
      const n = 60;
      for (let batch = 0; batch < n / 10; batch++) {
        const results = await Promise.all(Array.from({ length: 10 }, async () => {
          const res = await post(gw, chatBody('m'));
          await res.json();
          assert.equal(res.status, 200);
          return res.headers.get('x-switchyard-hedge') !== null;
        }));
        hedged += results.filter(Boolean).length;
      }
      // 10 % of 60 plus the small burst reserve the budget starts with.
      assert.ok(hedged >= 1, `some requests hedged (${hedged})`);
      assert.ok(hedged <= 0.1 * n + 3, `${hedged} of ${n} hedged`);
    } finally {
      await gw.stop();
    }
  });
});

describe('hedge_after_ms: p95', () => {
  test('the slow tail of a deployment is hedged once its p95 is known', async () => {
    // Every 25th request to `tail` is 1.5 s slower (4 %, inside the p95's blind spot). The
    // gateway learns the p95 from the first 24 answers (none of them slow), then hedges any
    // request slower than it: the 25th gets a backup instead of waiting 1.5 s.
    const gw = await startGateway(config({
      server: { workers: 1 },
      strategy: 'fallback',
      providers: [{ name: 'mock', url: mock.url }],
      models: { m: ['tail?latency_ms=20&tail_every=25&tail_ms=1500', 'backup'] },
      modelOptions: { m: { hedge_after_ms: 'p95' } },
      routing: { retry: { max_attempts: 3, backoff_ms: 10 }, hedge_max_fraction: 0.5 },
      admin: { key: 'admin-secret' },
    }));
    try {
      await mock.reset();
      // Warm-up: until the p95 is known there is no hedge, so a tail request waits.
      for (let i = 0; i < 24; i++) {
        const res = await post(gw, chatBody('m'));
        await res.json();
        assert.equal(res.headers.get('x-switchyard-hedge'), null, `no p95 yet at request ${i}`);
      }
      const explain = await (await fetch(`${gw.url}/admin/route/explain`, {
        method: 'POST', headers: { authorization: 'Bearer admin-secret', 'content-type': 'application/json' },
        body: chatBody('m'),
      })).json();
      const p95 = explain.plan[0].stats.p95_ttft_ms;
      assert.ok(p95 >= 15 && p95 < 1000, `p95 ${p95} ms is the fast body, not the tail`);
      // The 25th request to `tail` is the slow one; it gets a backup after ~p95.
      let hedged = 0, slowest = 0;
      for (let i = 0; i < 6; i++) {
        const t0 = Date.now();
        const res = await post(gw, chatBody('m'));
        await res.json();
        slowest = Math.max(slowest, Date.now() - t0);
        if (res.headers.get('x-switchyard-hedge') === 'backup-won') hedged++;
      }
      assert.ok(hedged >= 1, `the tail request was hedged (${hedged})`);
      assert.ok(slowest < 1200, `no request waited for the 1.5 s tail (slowest ${slowest} ms)`);
    } finally {
      await gw.stop();
    }
  });
});
