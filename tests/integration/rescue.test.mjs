// Stream rescue (issue 6): a stream that breaks after content reached the client continues
// on the next deployment, which is asked to continue the same answer (an assistant
// prefill). The client sees one answer, one id, then [DONE]. Real gateway, real mock (which
// continues a prefill from its end, or refuses one with reject_prefill=1).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chatBody, config, expectedText, post, readSse, startGateway, startMock, streamText } from './harness.mjs';

let mock, gw;
const N = 12;  // tokens of every answer
before(async () => {
  mock = await startMock();
  gw = await startGateway(config({
    server: { workers: 1 },
    providers: [{ name: 'mock', url: mock.url, timeouts: { idle_ms: 400 } }],
    models: {
      cut: [`first?tokens=${N}&reset_after=4`, `second?tokens=${N}`],
      stall: [`first?tokens=${N}&stall_after=5`, `second?tokens=${N}`],
      'error-event': [`first?tokens=${N}&error_event_after=3`, `second?tokens=${N}`],
      'refuser-then-taker': [`first?tokens=${N}&reset_after=4`, `refuser?tokens=${N}&reject_prefill=1`, `taker?tokens=${N}`],
      'nobody-takes': [`first?tokens=${N}&reset_after=4`, `refuser?tokens=${N}&reject_prefill=1`],
      'cut-twice': [`first?tokens=${N}&reset_after=3`, `second?tokens=${N}&reset_after=3`, `third?tokens=${N}`],
      'tool-cut': [`first?tool_call=1&reset_after=3`, `second?tool_call=1`],
      'plain-cut': [`first?tokens=${N}&reset_after=4`],
    },
    routing: { retry: { max_attempts: 4, backoff_ms: 10 } },
  }));
});
after(async () => { await gw?.stop?.(); await mock?.stop?.(); });

async function stream(model, extra = {}, headers = {}) {
  const res = await post(gw, chatBody(model, { stream: true, ...extra }), headers);
  assert.equal(res.status, 200);
  const { events } = await readSse(res);
  const chunks = events.filter((e) => e !== '[DONE]').map((e) => JSON.parse(e));
  return { res, events, chunks, text: streamText(events), done: events.at(-1) === '[DONE]' };
}

const lastMessage = (q) => JSON.parse(q.body).messages.at(-1);

describe('a broken stream is finished by the next deployment', () => {
  test('cut (reset) after 4 chunks: the client gets the whole answer, one id, [DONE]', async () => {
    await mock.reset();
    const r = await stream('cut');
    assert.equal(r.text, expectedText(N));
    assert.ok(r.done);
    assert.equal(new Set(r.chunks.map((c) => c.id)).size, 1, 'one id for the whole answer');
    assert.ok(!r.chunks.some((c) => c.error), 'no error event');
    const reqs = await mock.requests();
    const cont = reqs.at(-1);
    const prefill = lastMessage(cont);
    assert.equal(prefill.role, 'assistant');
    assert.ok(expectedText(N).startsWith(prefill.content) && prefill.content.length > 0,
      `the prefill is exactly the text already sent: ${JSON.stringify(prefill.content)}`);
    assert.match(JSON.parse(cont.body).model, /^second/);
  });

  test('a stall longer than idle_ms, and an error event, are rescued the same way', async () => {
    const s = await stream('stall');
    assert.equal(s.text, expectedText(N));
    assert.ok(s.done);
    const e = await stream('error-event');
    assert.equal(e.text, expectedText(N));
    assert.ok(e.done);
  });

  test('usage asked for counts the whole answer', async () => {
    const r = await stream('cut', { stream_options: { include_usage: true } });
    const usage = r.chunks.find((c) => c.usage)?.usage;
    assert.ok(usage, 'a usage chunk');
    assert.equal(usage.completion_tokens, N);
    assert.equal(r.text, expectedText(N));
  });

  test('a stream cut twice is finished by a third deployment', async () => {
    const r = await stream('cut-twice');
    assert.equal(r.text, expectedText(N));
    assert.ok(r.done);
  });

  test('a deployment that refuses the prefill is skipped for the next that accepts it', async () => {
    await mock.reset();
    const r = await stream('refuser-then-taker');
    assert.equal(r.text, expectedText(N));
    assert.ok(r.done);
    const models = (await mock.requests()).map((q) => JSON.parse(q.body).model.split('?')[0]);
    assert.deepEqual(models, ['first', 'refuser', 'taker']);
    // Learned: the refuser is not asked to continue again.
    await mock.reset();
    const again = await stream('refuser-then-taker');
    assert.equal(again.text, expectedText(N));
    const models2 = (await mock.requests()).map((q) => JSON.parse(q.body).model.split('?')[0]);
    assert.deepEqual(models2, ['first', 'taker']);
  });
});

describe('when it cannot be rescued, the clean error names the original failure', () => {
  test('no deployment accepts a prefill', async () => {
    const r = await stream('nobody-takes');
    assert.ok(!r.done, 'no [DONE]');
    const err = r.chunks.at(-1).error;
    assert.ok(err, 'ends with an error event');
    assert.match(err.message, /broke|closed|reset/i);
    assert.doesNotMatch(err.message, /prefill/i);
    assert.ok(expectedText(N).startsWith(r.text) && r.text.length > 0);
  });

  test('a cut inside a tool call is not continued', async () => {
    await mock.reset();
    const r = await stream('tool-cut', { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] });
    assert.ok(!r.done);
    assert.ok(r.chunks.at(-1).error);
    assert.equal((await mock.requests()).length, 1, 'nothing was asked to continue a tool call');
  });

  test('x-switchyard-rescue: off, or no other deployment, ends with the clean error', async () => {
    const off = await stream('cut', {}, { 'x-switchyard-rescue': 'off' });
    assert.ok(!off.done);
    assert.ok(off.chunks.at(-1).error);
    const single = await stream('plain-cut');
    assert.ok(!single.done, 'no other deployment: clean error');
    assert.ok(single.chunks.at(-1).error);
  });
});
