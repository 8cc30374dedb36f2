// Every failover trigger of the spine, the commit point, and the final errors when
// every attempt fails.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { chatBody, config, expectedText, post, readSse, startGateway, startMock, streamText } from './harness.mjs';

let mock, gw;
const good = { provider: 'mock', model: 'healthy?tokens=4' };
const fast = { connect_ms: 500, first_byte_ms: 400, first_token_ms: 400, idle_ms: 400, total_ms: 10000 };

before(async () => {
  mock = await startMock();
  const d = (model, extra = {}) => ({ provider: 'mock', model, ...extra });
  const s = (model) => ({ provider: 'slow', model });
  gw = await startGateway(config({
    providers: [
      { name: 'mock', url: mock.url },
      { name: 'slow', url: mock.url, timeouts: fast },
      { name: 'dead', url: 'http://127.0.0.1:1/v1', timeouts: fast },
    ],
    models: {
      connect: [{ provider: 'dead', model: 'x' }, good],
      head_timeout: [s('a?hang=1'), good],
      slow_head: [s('a?latency_ms=1500'), good],
      first_token: [s('a?first_token_ms=1500'), good],
      s429: [d('a?status=429&retry_after=7'), good],
      s429_stream: [d('a?status=429&retry_after=7'), good],
      s500: [d('a?status=500'), good],
      s503: [d('a?status=503'), good],
      s529: [d('a?status=529'), good],
      s408: [d('a?status=408'), good],
      bad_json: [d('a?invalid_json=1'), good],
      empty: [d('a?empty_body=1'), good],
      reset_head: [d('a?reset_before_head=1'), good],
      reset_early: [d('a?reset_after=0'), good],
      error_event_early: [d('a?error_event_after=0'), good],
      context: [d('a?status=400&error_code=context_length_exceeded', { context_window: 8000 }),
        d('small?tokens=4', { context_window: 4000 }), d('large?tokens=4', { context_window: 128000 })],
      context_only: [d('a?status=400&error_code=context_length_exceeded', { context_window: 8000 })],
      policy: [d('a?status=400&error_code=content_policy_violation'), good],
      unauthorized: [d('a?status=401'), good],
      mid_reset: [d('a?tokens=10&reset_after=3'), good],
      mid_stall: [s('a?tokens=10&stall_after=3'), good],
      mid_error: [d('a?tokens=10&error_event_after=3'), good],
      no_done: [d('a?tokens=5&no_done=1')],
      no_stream_options: [d('old-server?tokens=3&reject_stream_options=1')],
      all_fail: [d('a?status=500'), { provider: 'dead', model: 'x' }],
      all_timeout: [s('a?hang=1'), s('b?hang=1')],
      all_429: [d('a?status=429&retry_after=9'), d('b?status=429&retry_after=3')],
    },
  }));
});

async function expectFailover(model, { stream = false, attempts = 2 } = {}) {
  await mock.reset();
  const res = await post(gw, chatBody(model, stream ? { stream: true } : {}));
  assert.equal(res.status, 200, `${model}: status`);
  assert.equal(res.headers.get('x-switchyard-attempts'), String(attempts), `${model}: attempts`);
  assert.equal(res.headers.get('x-switchyard-deployment'), 'mock/healthy?tokens=4');
  if (stream) {
    const { events } = await readSse(res);
    assert.equal(streamText(events), expectedText(4), `${model}: the client sees only the good answer`);
    assert.equal(events.at(-1), '[DONE]');
  } else {
    const j = await res.json();
    assert.equal(j.choices[0].message.content, expectedText(4));
  }
}

describe('failover before the commit point is invisible', () => {
  for (const model of ['connect', 'head_timeout', 'slow_head', 's500', 's503', 's529', 's408', 'reset_head']) {
    test(`${model} (non-stream)`, () => expectFailover(model));
    test(`${model} (stream)`, () => expectFailover(model, { stream: true }));
  }
  // A 429 with Retry-After also keeps that deployment out of later plans, so each variant
  // gets a model of its own.
  test('s429 (non-stream)', () => expectFailover('s429'));
  test('s429 (stream)', () => expectFailover('s429_stream', { stream: true }));
  test('200 with a body that is not JSON', () => expectFailover('bad_json'));
  test('200 stream whose only event is not JSON', () => expectFailover('bad_json', { stream: true }));
  test('200 with an empty body', () => expectFailover('empty'));
  test('200 stream with an empty body', () => expectFailover('empty', { stream: true }));
  test('stream that ends before its first content event', () => expectFailover('reset_early', { stream: true }));
  test('stream whose first event is an error', () => expectFailover('error_event_early', { stream: true }));
  test('no first content event within first_token_ms', () => expectFailover('first_token', { stream: true }));
});

describe('client errors are not retried', () => {
  test('context_length_exceeded goes on to a deployment with a larger window only', async () => {
    await mock.reset();
    const res = await post(gw, chatBody('context'));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-switchyard-deployment'), 'mock/large?tokens=4');
    assert.equal(res.headers.get('x-switchyard-attempts'), '2');
    const models = (await mock.requests()).map((r) => JSON.parse(r.body).model);
    assert.deepEqual(models, ['a?status=400&error_code=context_length_exceeded', 'large?tokens=4']);
  });

  test('context_length_exceeded with no larger window passes the 400 through', async () => {
    const res = await post(gw, chatBody('context_only'));
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error.code, 'context_length_exceeded');
  });

  for (const [model, status, code] of [['policy', 400, 'content_policy_violation'], ['unauthorized', 401, 'invalid_api_key']]) {
    test(`${status} ${code} is passed through without failover`, async () => {
      await mock.reset();
      const res = await post(gw, chatBody(model));
      assert.equal(res.status, status);
      const j = await res.json();
      assert.equal(j.error.code, code);
      assert.equal(j.error.message, `mock error ${status}`);
      assert.equal((await mock.requests()).length, 1, 'no retry');
    });
  }
});

describe('after the commit point the client gets the truth', () => {
  for (const [model, code] of [['mid_reset', 'upstream_reset'], ['mid_stall', 'idle_timeout'], ['mid_error', 'upstream_error_event']]) {
    test(`${model}: partial answer, then one error event and no [DONE]`, async () => {
      // With rescue off (rescue itself: rescue.test.mjs), what the spine does on its own.
      const res = await post(gw, chatBody(model, { stream: true }), { 'x-switchyard-rescue': 'off' });
      assert.equal(res.status, 200);
      const { events } = await readSse(res);
      assert.notEqual(events.at(-1), '[DONE]');
      assert.ok(!events.includes('[DONE]'));
      const last = JSON.parse(events.at(-1));
      assert.ok(last.error, 'the last event is an error');
      assert.equal(last.error.code, code);
      assert.equal(streamText(events.slice(0, -1)), expectedText(3));
    });
  }

  test('a stream that ends cleanly after finish_reason without [DONE] is completed', async () => {
    const t0 = Date.now();
    const res = await post(gw, chatBody('no_done', { stream: true }));
    const { events } = await readSse(res);
    assert.equal(events.at(-1), '[DONE]');
    assert.equal(streamText(events), expectedText(5));
    assert.ok(Date.now() - t0 < 2000, 'finished promptly, not after a timeout');
  });
});

describe('server quirks', () => {
  test('a server that rejects stream_options gets the client request as written', async () => {
    await mock.reset();
    const res = await post(gw, chatBody('no_stream_options', { stream: true }));
    assert.equal(res.status, 200);
    const { events } = await readSse(res);
    assert.equal(streamText(events), expectedText(3));
    assert.equal(events.at(-1), '[DONE]');
    const bodies = (await mock.requests()).map((r) => JSON.parse(r.body));
    assert.equal(bodies.length, 2);
    assert.deepEqual(bodies[0].stream_options, { include_usage: true });
    assert.equal(bodies[1].stream_options, undefined);
  });

  test('a client that asked for stream_options itself gets the server\'s 422', async () => {
    const res = await post(gw, chatBody('no_stream_options', { stream: true, stream_options: { include_usage: true } }));
    assert.equal(res.status, 422);
  });
});

describe('when every attempt fails', () => {
  test('502 upstream_error', async () => {
    const res = await post(gw, chatBody('all_fail'));
    assert.equal(res.status, 502);
    const j = await res.json();
    assert.equal(j.error.type, 'upstream_error');
    // Two deployments, routing.retry.max_attempts 3 (default): the third attempt goes
    // back to the first deployment after a backoff.
    assert.equal(res.headers.get('x-switchyard-attempts'), '3');
    assert.ok(!JSON.stringify(j).includes('sk-upstream-secret'));
  });
  test('504 when they all timed out', async () => {
    const res = await post(gw, chatBody('all_timeout', { stream: true }));
    assert.equal(res.status, 504);
    assert.equal((await res.json()).error.type, 'upstream_error');
  });
  test('429 with the shortest Retry-After when they were all rate-limited', async () => {
    const res = await post(gw, chatBody('all_429'));
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '3');
    assert.equal((await res.json()).error.code, 'rate_limit_exceeded');
  });
});
