// Panic mode through the real gateway: when the breakers of every deployment of a model are
// open on a worker, the router tries them all anyway (docs/routing.md, "panic"), so a
// provider that has healed is found by the next request instead of after the cooldown, and
// that success closes its breaker. One worker, so every request sees the same breakers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { config, post, sleep, startGateway, startMock } from './harness.mjs';

const ADMIN = 'adm-panic';
let mock, gw, healsAt;

before(async () => {
  mock = await startMock();
  // Both deployments answer 500 until healsAt (Unix ms), then normally: the mock's
  // fail_until_ms directive. Long enough to trip both breakers on a slow machine.
  healsAt = Date.now() + 4000;
  gw = await startGateway(config({
    server: { workers: 1 },
    providers: [{ name: 'mock', url: mock.url }],
    models: { m: [`a?fail_until_ms=${healsAt}&tokens=3`, `b?fail_until_ms=${healsAt}&tokens=3`] },
    routing: {
      // Two attempts per request: each request tries both deployments once.
      retry: { max_attempts: 2, backoff_ms: 10, max_backoff_ms: 20 },
      // A cooldown far longer than the test, so no ordinary half-open probe can be what
      // brings a deployment back, however slow the machine is.
      breaker: { failures: 2, window_ms: 60000, cooldown_ms: 60000 },
    },
    admin: { key: ADMIN },
  }));
});

after(async () => {
  await gw?.stop();
  await mock?.stop();
});

const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hello' }] });

async function explain() {
  const res = await fetch(`${gw.url}/admin/route/explain`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` }, body,
  });
  assert.equal(res.status, 200);
  return res.json();
}

const breakers = (j) => Object.fromEntries(j.plan.map((p) => [p.deployment, p.stats.breaker]));

// switchyard_breaker_state{model="m",deployment=…} from /metrics (0 closed, 2 open).
async function breakerGauge(deployment) {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (!line.startsWith('switchyard_breaker_state{')) continue;
    if (line.includes('model="m"') && line.includes(`deployment="${deployment}"`)) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

describe('panic: every breaker of the model open on the worker', () => {
  test('the next request after the provider heals is tried, answers 200, and closes its breaker', async () => {
    await mock.reset();
    // Trip both: two requests, each failing on both deployments (2 failures each).
    for (let i = 0; i < 2; i++) {
      const res = await post(gw, body);
      await res.text();
      assert.equal(res.status, 502, `request ${i}: every attempt failed upstream`);
      assert.equal(res.headers.get('x-switchyard-attempts'), '2');
    }
    assert.ok(Date.now() < healsAt, 'the breakers were tripped before the mock heals (raise the margin if not)');
    assert.equal((await mock.requests()).length, 4);

    const before = await explain();
    assert.equal(before.panic, true, 'explain says panic');
    assert.equal(before.plan.length, 2, 'panic puts every deployment back in the plan');
    assert.deepEqual(Object.values(breakers(before)), ['open', 'open']);
    assert.equal((await mock.requests()).length, 4, 'explain sends nothing upstream');

    while (Date.now() < healsAt + 100) await sleep(50);
    const res = await post(gw, body);
    const text = await res.text();
    assert.equal(res.status, 200, `tried and answered, not 503 no_route: ${text}`);
    const winner = res.headers.get('x-switchyard-deployment');
    assert.ok(winner === before.plan[0].deployment || winner === before.plan[1].deployment, winner);
    assert.equal(JSON.parse(text).choices[0].message.content, 'tok0 tok1 tok2');
    assert.equal((await mock.requests()).length, 5, 'one attempt went upstream');

    // A success in panic counts as the half-open probe's: that breaker is closed again,
    // so the model is out of panic; the other one (not tried) stays open, and out.
    const loser = before.plan.map((p) => p.deployment).find((d) => d !== winner);
    const afterwards = await explain();
    assert.equal(afterwards.panic, false);
    assert.deepEqual(breakers(afterwards), { [winner]: 'closed' });
    assert.deepEqual(afterwards.excluded.map((e) => [e.deployment, e.reason]), [[loser, 'circuit breaker open']]);

    // The scrape merges the workers' summaries, published every 100 ms.
    let gauge;
    for (let i = 0; i < 40; i++) {
      gauge = await breakerGauge(winner);
      if (gauge === 0) break;
      await sleep(50);
    }
    assert.equal(gauge, 0, `switchyard_breaker_state of ${winner}`);
    assert.equal(await breakerGauge(loser), 2);

    // Back to normal routing: the closed deployment serves without another panic.
    const next = await post(gw, body);
    await next.text();
    assert.equal(next.status, 200);
    assert.equal(next.headers.get('x-switchyard-deployment'), winner);
  });
});
