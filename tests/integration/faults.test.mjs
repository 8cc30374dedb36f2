// A bounded mixed-fault load: concurrent stream and non-stream requests against
// deployments that reset, stall, hang, error and answer slowly, with clients that give up
// early. The gateway must answer every request it can (200 or an OpenAI-shaped error),
// never crash, and still serve normally afterwards. Run under ASan/UBSan by `make test`.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { chatBody, config, readSse, sleep, startGateway, startMock } from './harness.mjs';

let mock, gw;
const fast = { connect_ms: 500, first_byte_ms: 600, first_token_ms: 600, idle_ms: 400, total_ms: 5000 };
before(async () => {
  mock = await startMock();
  const d = (model) => ({ provider: 'mock', model });
  gw = await startGateway(config({
    server: { workers: 2 },
    providers: [{ name: 'mock', url: mock.url, max_connections: 8, max_queue: 16, timeouts: fast }],
    models: {
      mixed: [d('a?reset_after=2&tokens=6'), d('b?status=503'), d('c?tokens=5&chunk_delay_ms=5')],
      flaky: [d('a?stall_after=1'), d('b?reset_before_head=1'), d('c?invalid_json=1'), d('d?tokens=3')],
      doomed: [d('a?hang=1'), d('b?status=500')],
      good: [d('g?tokens=4')],
    },
  }));
});

test('mixed faults under concurrency: every response is a success or a clean error', async () => {
  const models = ['mixed', 'flaky', 'doomed', 'good'];
  const outcomes = { ok: 0, error: 0, aborted: 0 };
  let i = 0;
  const deadline = Date.now() + 8000;
  async function one() {
    const n = i++;
    const model = models[n % models.length];
    const stream = n % 2 === 0;
    const ac = new AbortController();
    const giveUp = n % 7 === 0 ? setTimeout(() => ac.abort(), 20 + (n % 50)) : null;
    try {
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: chatBody(model, stream ? { stream: true } : {}), signal: ac.signal,
      });
      if (res.status === 200 && stream) {
        const { events } = await readSse(res);
        const last = events.at(-1);
        assert.ok(last === '[DONE]' || JSON.parse(last).error, `stream ends with [DONE] or an error: ${last}`);
      } else {
        const j = await res.json();
        if (res.status === 200) assert.ok(j.choices);
        else assert.ok(j.error && j.error.message, `status ${res.status} carries an OpenAI error`);
      }
      outcomes[res.status === 200 ? 'ok' : 'error']++;
    } catch (e) {
      if (ac.signal.aborted) outcomes.aborted++;
      else throw e;
    } finally {
      if (giveUp) clearTimeout(giveUp);
    }
  }
  const workers = Array.from({ length: 24 }, async () => {
    while (Date.now() < deadline && i < 1500) await one();
  });
  await Promise.all(workers);
  assert.ok(outcomes.ok > 50, JSON.stringify(outcomes));
  assert.ok(outcomes.error > 10, JSON.stringify(outcomes));
  assert.equal(gw.proc.exitCode, null, 'the gateway is still running');

  // Afterwards the gateway serves normally and its pools are not leaking slots.
  await sleep(700);
  const results = await Promise.all(Array.from({ length: 8 }, () => fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('good'),
  }).then((r) => r.status)));
  assert.deepEqual(results, Array(8).fill(200));
  const { code, signal } = await gw.stop();
  assert.equal(signal, null);
  assert.equal(code, 0, `clean exit (ASan would make it non-zero): ${gw.stderr.slice(-2000)}`);
});
