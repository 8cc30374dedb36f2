// Defects found by attack (issue 13): each answered cleanly, with nothing left behind.
// 3. A stream to an HTTP/1.0 client was sent chunked, which 1.0 cannot read (RFC 9112
//    forbids it): it is close-delimited now.
// 1. A number no double holds (`"max_tokens": 1` and 309 zeros, also max_completion_tokens
//    and n) once threw inside the request parser: no answer, no access-log line, and an
//    in-flight slot leaked for good (so every drain waited its whole timeout).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { chatBody, config, post, startGateway, startMock } from './harness.mjs';

let mock, gw;
before(async () => {
  mock = await startMock();
  gw = await startGateway(config({
    server: { workers: 2, drain_timeout_ms: 20000 },
    providers: [{ name: 'mock', url: mock.url }],
    models: { m: ['ok?tokens=2'] },
  }));
});
after(async () => { await gw?.stop?.(); await mock?.stop?.(); });

const huge = '1' + '0'.repeat(309);
const inFlight = async () => {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('switchyard_in_flight_requests'));
  return Number(line.split(' ').at(-1));
};

// Sends raw bytes, returns everything the gateway answered until it closed.
function rawExchange(port, bytes) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
    let got = '';
    sock.setTimeout(10000, () => { sock.destroy(); reject(new Error(`no close; got ${got.length} bytes`)); });
    sock.on('data', (d) => { got += d; });
    sock.on('end', () => resolve(got));
    sock.on('error', reject);
  });
}

test('a stream to an HTTP/1.0 client is close-delimited, not chunked', async () => {
  const body = chatBody('m', { stream: true });
  const answer = await rawExchange(gw.port,
    `POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  const [head, ...rest] = answer.split('\r\n\r\n');
  const payload = rest.join('\r\n\r\n');
  assert.match(head, /^HTTP\/1\.1 200 /);
  assert.match(head, /content-type: text\/event-stream/i);
  assert.doesNotMatch(head, /transfer-encoding/i);
  assert.doesNotMatch(head, /content-length/i);
  assert.match(head, /connection: close/i);
  assert.match(payload, /^data: \{/, 'the body is the events themselves, no chunk-size line');
  assert.ok(payload.trimEnd().endsWith('data: [DONE]'), payload.slice(-80));
  // An HTTP/1.1 client still gets chunks.
  const chunked = await rawExchange(gw.port,
    `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
    `Connection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  assert.match(chunked.split('\r\n\r\n')[0], /transfer-encoding: chunked/i);
});

test('a number no double holds is a 400 naming its field, and leaves no request in flight', async () => {
  for (const field of ['max_tokens', 'max_completion_tokens', 'n']) {
    const body = chatBody('m').replace(/}$/, `,"${field}":${huge}}`);
    const res = await post(gw, body);
    assert.equal(res.status, 400, field);
    const err = (await res.json()).error;
    assert.equal(err.param, field);
    assert.equal(err.type, 'invalid_request_error');
    assert.match(err.message, new RegExp(field));
  }
  await new Promise((r) => setTimeout(r, 300));  // access-log lines are written per 100 ms tick
  assert.equal(await inFlight(), 1, 'every slot given back: the one in flight is this scrape');
  const lines = gw.stdout.split('\n').filter((l) => l.includes('"status":400'));
  assert.ok(lines.length >= 3, `an access-log line per refused request (${lines.length})`);
  // And the gateway still serves, and drains at once (no leaked slot to wait for).
  const ok = await post(gw, chatBody('m'));
  assert.equal(ok.status, 200);
  await ok.json();
  const t0 = Date.now();
  const exit = await gw.stop();
  assert.equal(exit.code, 0);
  assert.ok(Date.now() - t0 < 5000, `drained in ${Date.now() - t0} ms, not drain_timeout_ms`);
});
