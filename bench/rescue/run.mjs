#!/usr/bin/env node
// Stream rescue (issue 6): a provider that cuts 5 % of its streams at a random point, with
// a healthy second deployment behind it. Sends the same streams with rescue off
// (x-switchyard-rescue: off) and on, and reports the share that completed (the client got
// the whole answer and [DONE]) and how much longer a rescued stream took than an
// uninterrupted one.
//
//   node bench/rescue/run.mjs [--streams 1000] [--concurrency 16] [--cut-pct 5]
//        [--tokens 60] [--chunk-delay-ms 5] [--json out.json]
//
// Loopback only; starts switchyard-mock and a gateway on ephemeral ports and stops them.
// Binaries: build/switchyard and build/switchyard-mock (or SWITCHYARD_BIN /
// SWITCHYARD_MOCK_BIN). About 20 s on two cores with the defaults; a hard limit stops it
// after 170 s.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
process.env.SWITCHYARD_BIN ||= path.join(ROOT, 'build/switchyard');
process.env.SWITCHYARD_MOCK_BIN ||= path.join(ROOT, 'build/switchyard-mock');
const { config, expectedText, startGateway, startMock, streamText } = await import('../../tests/integration/harness.mjs');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
};
const STREAMS = Number(arg('streams', 800));  // the usage ledger keeps the last 1000 records
const CONCURRENCY = Number(arg('concurrency', 16));
const CUT_PCT = Number(arg('cut-pct', 5));
const TOKENS = Number(arg('tokens', 60));
const DELAY = Number(arg('chunk-delay-ms', 5));
const JSON_OUT = arg('json', '');
const hard = setTimeout(() => { console.error('hard limit reached'); process.exit(3); }, 170000);
hard.unref();

const mock = await startMock();
const gw = await startGateway(config({
  server: { workers: 2 },
  providers: [{ name: 'mock', url: mock.url, timeouts: { idle_ms: 2000 } }],
  models: {
    chat: [
      `cutter?tokens=${TOKENS}&chunk_delay_ms=${DELAY}&cut_pct=${CUT_PCT}`,
      `backup?tokens=${TOKENS}&chunk_delay_ms=${DELAY}`,
    ],
  },
  routing: { retry: { max_attempts: 3, backoff_ms: 10 }, breaker: { failures: 1000000 } },
  admin: { key: 'bench-admin' },
}));
const want = expectedText(TOKENS);

async function one(rescue) {
  const t0 = performance.now();
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(rescue ? {} : { 'x-switchyard-rescue': 'off' }) },
    body: JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'Tell me a story' }] }),
  });
  const raw = await res.text();
  const ms = performance.now() - t0;
  const events = raw.split('\n\n').map((b) => b.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n')).filter(Boolean);
  const complete = events.at(-1) === '[DONE]' && streamText(events) === want;
  return { ms, complete, id: res.headers.get('x-switchyard-request-id') };
}

async function run(rescue) {
  const results = [];
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < STREAMS) {
      next++;
      results.push(await one(rescue));
    }
  }));
  return results;
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
// Requests whose stream broke after content went out: the usage ledger has an
// "incomplete" record for them (the head, and x-switchyard-attempts, went out before).
async function brokenIds() {
  const res = await fetch(`${gw.url}/admin/usage?limit=1000`, { headers: { authorization: 'Bearer bench-admin' } });
  return new Set((await res.json()).recent.filter((r) => r.incomplete).map((r) => r.request_id));
}
const summary = (rs, broken) => {
  const clean = rs.filter((r) => r.complete && !broken.has(r.id)).map((r) => r.ms);
  const rescued = rs.filter((r) => r.complete && broken.has(r.id)).map((r) => r.ms);
  return {
    streams: rs.length,
    completed: rs.filter((r) => r.complete).length,
    completed_share: rs.filter((r) => r.complete).length / rs.length,
    broke_mid_answer: rs.filter((r) => broken.has(r.id)).length,
    rescued: rescued.length,
    clean_p50_ms: pct(clean, 50),
    rescued_p50_ms: pct(rescued, 50),
    rescued_p95_ms: pct(rescued, 95),
  };
};

const offRuns = await run(false);
const off = summary(offRuns, await brokenIds());
const onRuns = await run(true);
const on = summary(onRuns, await brokenIds());
await gw.stop();
await mock.stop();
const out = { streams: STREAMS, cut_pct: CUT_PCT, tokens: TOKENS, chunk_delay_ms: DELAY, off, on };
console.log(JSON.stringify(out, null, 2));
console.log(`completed without rescue: ${(100 * off.completed_share).toFixed(1)} %, with rescue: ${(100 * on.completed_share).toFixed(1)} %`);
console.log(`${on.rescued} of ${on.broke_mid_answer} streams that broke mid-answer were rescued; they finished in p50 ${on.rescued_p50_ms.toFixed(0)} ms (p95 ${on.rescued_p95_ms.toFixed(0)}) vs ${on.clean_p50_ms.toFixed(0)} ms uninterrupted`);
if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify(out, null, 2));
