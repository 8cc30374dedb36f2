// W3C trace context (issue 7, item 3): the client's traceparent reaches the provider with
// the same trace id and a new parent id (one per attempt); tracestate is passed on; a
// request without one (or with a malformed one) starts a trace; the usage record says
// which trace an answer belongs to.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { chatBody, config, post, startGateway, startMock } from './harness.mjs';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
let mock, gw;
before(async () => {
  mock = await startMock();
  gw = await startGateway(config({
    server: { workers: 1 },
    providers: [{ name: 'mock', url: mock.url }],
    models: { m: ['ok?tokens=2'], 'fails-once': ['down?status=500', 'up?tokens=2'] },
    admin: { key: 'adm-trace' },
  }));
});
after(async () => { await gw?.stop?.(); await mock?.stop?.(); });

const upstreamTraces = async () => (await mock.requests()).map((q) => q.headers.traceparent);

test('the client\'s trace continues upstream as a child span, tracestate passed on', async () => {
  await mock.reset();
  const res = await post(gw, chatBody('m'), {
    traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'vendor=abc,other=1',
  });
  assert.equal(res.status, 200);
  await res.json();
  const [q] = await mock.requests();
  const m = RE.exec(q.headers.traceparent);
  assert.ok(m, q.headers.traceparent);
  assert.equal(m[1], TRACE, 'same trace id');
  assert.notEqual(m[2], PARENT, 'a new parent id: the gateway\'s span');
  assert.equal(m[3], '01');
  assert.equal(q.headers.tracestate, 'vendor=abc,other=1');
  const usage = await (await fetch(`${gw.url}/admin/usage?limit=1`, { headers: { authorization: 'Bearer adm-trace' } })).json();
  assert.equal(usage.recent.at(-1).trace_id, TRACE);
});

test('each attempt of a failover is its own span of the same trace', async () => {
  await mock.reset();
  const res = await post(gw, chatBody('fails-once'), { traceparent: `00-${TRACE}-${PARENT}-00` });
  await res.json();
  const [a, b] = (await upstreamTraces()).map((t) => RE.exec(t));
  assert.equal(a[1], TRACE);
  assert.equal(b[1], TRACE);
  assert.notEqual(a[2], b[2]);
  assert.equal(a[3], '00', 'the sampled flag is kept as the client set it');
});

test('no traceparent, or a malformed one, starts a new trace', async () => {
  await mock.reset();
  for (const headers of [{}, { traceparent: 'garbage' }, { traceparent: `00-${'0'.repeat(32)}-${PARENT}-01` }]) {
    const res = await post(gw, chatBody('m'), headers);
    await res.json();
  }
  const ids = (await upstreamTraces()).map((t) => RE.exec(t)?.[1]);
  assert.equal(ids.length, 3);
  for (const id of ids) assert.ok(id && id !== '0'.repeat(32));
  assert.equal(new Set(ids).size, 3, 'a new trace each time');
});
