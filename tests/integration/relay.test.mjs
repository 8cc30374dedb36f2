// Relay behaviour through the real gateway and the mock provider: bytes forwarded
// untouched, streams relayed event by event, headers, endpoints, client errors.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  chatBody, config, expectedText, post, readSse, startGateway, startMock, streamText,
} from './harness.mjs';

let mock, gw;
before(async () => {
  mock = await startMock();
  gw = await startGateway(config({
    providers: [{ name: 'mock', url: mock.url, api_key: 'sk-upstream-secret', headers: { 'x-extra-provider-header': 'on' } }],
    models: {
      'gpt-test': ['up-model?tokens=5'],
      'slow-stream': ['up-slow?tokens=6&chunk_delay_ms=150'],
      tools: ['up-tools'],
    },
  }));
});

describe('non-stream relay', () => {
  test('forwards the client body with only model changed, and relays the answer', async () => {
    await mock.reset();
    const body = '{"model":"gpt-test",  "messages":[{"role":"user","content":"h\\u00e9llo \\"q\\""}],'
      + '"temperature":0.70,"x_unknown_field":{"nested":[1,2.50,"x"]},"seed":1e2}';
    const res = await post(gw, body, { authorization: 'Bearer sk-client-key-should-not-pass' });
    assert.equal(res.status, 200);
    const text = await res.text();
    const j = JSON.parse(text);
    assert.equal(j.object, 'chat.completion');
    assert.equal(j.choices[0].message.content, expectedText(5));
    assert.equal(j.model, 'up-model', 'model names the upstream model that answered');
    assert.ok(text.includes('"x_mock_extra":{"kept":true}'), 'unknown response fields kept');
    assert.equal(j.usage.completion_tokens, 5);

    const [seen] = await mock.requests();
    const upstreamModel = 'up-model?tokens=5';
    assert.equal(seen.body, body.replace('"gpt-test"', JSON.stringify(upstreamModel)),
      'upstream body is the client body byte for byte, model aside');
    assert.equal(seen.headers.authorization, 'Bearer sk-upstream-secret', 'provider key replaces the client key');
    assert.equal(seen.headers['x-extra-provider-header'], 'on');
    assert.equal(seen.target, '/v1/chat/completions');
  });

  test('adds switchyard headers and passes rate-limit headers back', async () => {
    const res = await post(gw, chatBody('gpt-test'), { 'x-request-id': 'client-corr-42' });
    await res.text();
    assert.equal(res.headers.get('x-switchyard-request-id'), 'client-corr-42');
    assert.equal(res.headers.get('x-switchyard-deployment'), 'mock/up-model?tokens=5');
    assert.equal(res.headers.get('x-switchyard-attempts'), '1');
    assert.equal(res.headers.get('x-ratelimit-remaining-requests'), '9999');
    assert.match(res.headers.get('x-request-id'), /^req_mock_/);
    const res2 = await post(gw, chatBody('gpt-test'));
    await res2.text();
    assert.match(res2.headers.get('x-switchyard-request-id'), /^req_[0-9a-f]{32}$/);
  });

  test('keep-alive: many requests reuse pooled upstream connections', async () => {
    await mock.reset();
    for (let i = 0; i < 20; i++) {
      const res = await post(gw, chatBody('gpt-test'));
      assert.equal(res.status, 200);
      await res.text();
    }
    const s = await mock.stats();
    assert.equal(s.requests, 20);
    // Two workers, each with its own pool: at most one connection each when sequential.
    assert.ok(s.connections_accepted <= 2, `connections: ${s.connections_accepted}`);
  });
});

describe('stream relay', () => {
  test('relays every event and [DONE]; drops the usage chunk the client did not ask for', async () => {
    await mock.reset();
    const res = await post(gw, chatBody('gpt-test', { stream: true }));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    const { events, raw } = await readSse(res);
    assert.equal(events.at(-1), '[DONE]');
    assert.equal(streamText(events), expectedText(5));
    assert.ok(!events.some((e) => e !== '[DONE]' && JSON.parse(e).usage), 'no usage chunk');
    assert.ok(raw.includes('"x_mock_extra":{"kept":true}'));
    const [seen] = await mock.requests();
    assert.deepEqual(JSON.parse(seen.body).stream_options, { include_usage: true }, 'usage asked upstream');
  });

  test('passes the usage chunk when the client asked for it', async () => {
    const res = await post(gw, chatBody('gpt-test', { stream: true, stream_options: { include_usage: true } }));
    const { events } = await readSse(res);
    const usage = events.filter((e) => e !== '[DONE]').map((e) => JSON.parse(e)).filter((j) => j.usage);
    assert.equal(usage.length, 1);
    assert.deepEqual(usage[0].choices, []);
    assert.equal(usage[0].usage.completion_tokens, 5);
  });

  test('events reach the client as they are produced, not at the end', async () => {
    const res = await post(gw, chatBody('slow-stream', { stream: true }));
    const reader = res.body.getReader();
    const t0 = Date.now();
    const arrivals = [];
    const dec = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const s = dec.decode(value);
      for (const _ of s.matchAll(/"content":"[^"]+"/g)) arrivals.push(Date.now() - t0);
    }
    assert.equal(arrivals.length, 6);
    // 150 ms between chunks upstream: the first token must arrive well before the last.
    assert.ok(arrivals.at(-1) - arrivals[0] >= 500, `arrivals ${arrivals}`);
  });

  test('SSE variants from upstream (CRLF, comments, coalesced events) are normalised', async () => {
    for (const d of ['crlf=1', 'comments=1', 'events_per_write=4', 'crlf=1&events_per_write=3']) {
      const g = await startGateway(config({ providers: [{ name: 'mock', url: mock.url }], models: { m: [`v?tokens=7&${d}`] } }));
      const { events } = await readSse(await post(g, chatBody('m', { stream: true })));
      assert.equal(streamText(events), expectedText(7), d);
      assert.equal(events.at(-1), '[DONE]', d);
      await g.stop();
    }
  });

  test('tool calls stream through', async () => {
    const res = await post(gw, chatBody('tools', {
      stream: true,
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }],
    }));
    const { events } = await readSse(res);
    const chunks = events.filter((e) => e !== '[DONE]').map((e) => JSON.parse(e));
    const args = chunks.flatMap((c) => c.choices.flatMap((ch) => ch.delta?.tool_calls || []))
      .map((tc) => tc.function?.arguments || '').join('');
    assert.equal(args, '{"city":"Paris"}');
    assert.equal(chunks.find((c) => c.choices[0]?.finish_reason).choices[0].finish_reason, 'tool_calls');
  });
});

describe('HTTP details', () => {
  test('Expect: 100-continue is answered before the body is sent', async () => {
    const net = await import('node:net');
    const body = chatBody('gpt-test');
    const sock = net.connect(gw.port, '127.0.0.1');
    let got = '';
    sock.on('data', (d) => { got += d; });
    await new Promise((r) => sock.on('connect', r));
    sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n`
      + `Content-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
    const t0 = Date.now();
    while (!got.includes('100 Continue') && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
    assert.match(got, /^HTTP\/1\.1 100 Continue\r\n\r\n/);
    sock.write(body);
    while (!got.includes('"x_mock_extra"') && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    sock.destroy();
    assert.match(got, /HTTP\/1\.1 200 OK/);
  });
});

describe('endpoints and client errors', () => {
  test('GET /v1/models lists the configured models', async () => {
    const j = await (await fetch(`${gw.url}/v1/models`)).json();
    assert.equal(j.object, 'list');
    assert.deepEqual(j.data.map((m) => m.id).sort(), ['gpt-test', 'slow-stream', 'tools']);
    assert.equal(j.data[0].object, 'model');
  });

  test('health and readiness', async () => {
    assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${gw.url}/readyz`)).status, 200);
  });

  const errorCases = [
    ['invalid JSON', '{"model": ', 400, 'invalid_json'],
    ['missing model', '{"messages":[{"role":"user","content":"x"}]}', 400, null, 'model'],
    ['missing messages', '{"model":"gpt-test"}', 400, null, 'messages'],
    ['unknown model', chatBody('no-such-model'), 404, 'model_not_found', 'model'],
  ];
  for (const [name, body, status, code, param] of errorCases) {
    test(`${name} → ${status}`, async () => {
      const res = await post(gw, body);
      assert.equal(res.status, status);
      const j = await res.json();
      assert.equal(typeof j.error.message, 'string');
      assert.equal(typeof j.error.type, 'string');
      if (code) assert.equal(j.error.code, code);
      if (param) assert.equal(j.error.param, param);
    });
  }

  test('unknown path 404 and wrong method 405, OpenAI-shaped', async () => {
    const r404 = await fetch(`${gw.url}/v1/nothing-here`);
    assert.equal(r404.status, 404);
    assert.ok((await r404.json()).error.message);
    const r405 = await fetch(`${gw.url}/v1/chat/completions`);
    assert.equal(r405.status, 405);
    assert.equal(r405.headers.get('allow'), 'POST');
    assert.ok((await r405.json()).error.message);
  });
});
