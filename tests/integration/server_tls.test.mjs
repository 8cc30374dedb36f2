// server.tls: the gateway itself serving HTTPS with a certificate the test makes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { before, test } from 'node:test';
import { chatBody, config, expectedText, makePki, rawExchange, startGateway, startMock } from './harness.mjs';

let gw, ca;
before(async () => {
  const mock = await startMock();
  const pki = makePki();
  ca = readFileSync(pki.ca);
  gw = await startGateway(config({
    server: { tls: { cert: pki.cert, key: pki.key } },
    providers: [{ name: 'mock', url: mock.url }],
    models: { m: ['a?tokens=4'] },
  }));
});

function httpsRequest(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: 'localhost', port: gw.port, method, path, ca, servername: 'localhost',
      headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
    }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('serves HTTPS with the configured certificate', async () => {
  const h = await httpsRequest('GET', '/healthz');
  assert.equal(h.status, 200);
  const r = await httpsRequest('POST', '/v1/chat/completions', chatBody('m'));
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body).choices[0].message.content, expectedText(4));
  assert.match(r.headers['x-switchyard-request-id'], /^req_/);
});

test('streams over HTTPS', async () => {
  const r = await httpsRequest('POST', '/v1/chat/completions', chatBody('m', { stream: true }));
  assert.equal(r.status, 200);
  assert.ok(r.body.trimEnd().endsWith('data: [DONE]'));
});

test('a plain-HTTP client on the TLS port is dropped without harming the server', async () => {
  const r = await rawExchange(gw.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'], { timeoutMs: 5000 });
  assert.ok(!r.data.startsWith('HTTP/1.1 200'), 'no plaintext answer on the TLS port');
  assert.notEqual(r.why, 'timeout');
  // A client that connects and says nothing is cut after header_timeout_ms, not held.
  const idle = net.connect(gw.port, '127.0.0.1');
  await new Promise((res) => idle.on('connect', res));
  idle.destroy();
  assert.equal((await httpsRequest('GET', '/healthz')).status, 200);
});
