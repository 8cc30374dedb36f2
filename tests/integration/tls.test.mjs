// TLS to the upstream with real OpenSSL on both sides: a private CA made here with the
// openssl CLI, the mock serving HTTPS with a certificate for DNS:localhost only, and the
// gateway's provider `tls: {verify, ca_file}` settings.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  chatBody, config, expectedText, makePki, post, readSse, startGateway, startMock, streamText,
} from './harness.mjs';

// The mock serves HTTPS only, so its /mock/* endpoints are reached over TLS too. This
// client keeps ONE connection open (made before the counters are reset), so reading the
// stats neither adds to connections_accepted nor sends a ClientHello that would overwrite
// last_sni. It sends no SNI itself (IP host) and checks the chain against our CA; the
// host name check is skipped since the certificate names only localhost.
class MockControl {
  constructor(port, caPem) {
    this.port = port;
    this.agent = new https.Agent({
      keepAlive: true, maxSockets: 1, ca: caPem, checkServerIdentity: () => undefined,
    });
    this.calls = 0;
  }

  request(method, target) {
    const first = this.calls++ === 0;
    return new Promise((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1', port: this.port, method, path: target, agent: this.agent,
        headers: { 'content-length': '0' },
      }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { body += d; });
        res.on('end', () => {
          if (!first && !req.reusedSocket) {
            reject(new Error('mock control connection was not reused; its own connection would skew the stats'));
          } else if (res.statusCode !== 200) {
            reject(new Error(`${method} ${target}: ${res.statusCode} ${body}`));
          } else {
            resolve(JSON.parse(body));
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
  }

  stats() { return this.request('GET', '/mock/stats'); }
  reset() { return this.request('POST', '/mock/reset'); }
  close() { this.agent.destroy(); }
}

let pki, mock, ctl;
before(async () => {
  pki = makePki();
  mock = await startMock({ tlsCert: pki.cert, tlsKey: pki.key });
  ctl = new MockControl(mock.port, readFileSync(pki.ca));
  await ctl.stats(); // opens the control connection
});
after(() => ctl?.close());

const byName = (port) => `https://localhost:${port}/v1`;
const byIp = (port) => `https://127.0.0.1:${port}/v1`;

// A gateway with one provider `tls` and the model `m` on it.
function tlsGateway(url, tls, { workers = 2, tokens = 4 } = {}) {
  const provider = { name: 'tls', url, ...(tls ? { tls } : {}) };
  return startGateway(config({ providers: [provider], models: { m: [`up-tls?tokens=${tokens}`] }, server: { workers } }));
}

async function expectTlsFailure(res, what) {
  assert.equal(res.status, 502, `${what}: status`);
  const j = await res.json();
  assert.equal(typeof j.error?.message, 'string', `${what}: OpenAI-shaped error`);
  assert.equal(j.error.type, 'upstream_error', `${what}: type`);
  assert.equal(j.error.code, 'tls_failed', `${what}: code`);
  return j.error;
}

describe('verified TLS to the upstream', () => {
  let gw;
  before(async () => { gw = await tlsGateway(byName(mock.port), { ca_file: pki.ca }); });
  after(() => gw.stop());

  test('ca_file = our CA: non-stream answer', async () => {
    const res = await post(gw, chatBody('m'));
    assert.equal(res.status, 200);
    const j = await res.json();
    assert.equal(j.choices[0].message.content, expectedText(4));
    assert.equal(res.headers.get('x-switchyard-deployment'), 'tls/up-tls?tokens=4');
  });

  test('ca_file = our CA: stream', async () => {
    const res = await post(gw, chatBody('m', { stream: true }));
    assert.equal(res.status, 200);
    const { events } = await readSse(res);
    assert.equal(streamText(events), expectedText(4));
    assert.equal(events.at(-1), '[DONE]');
  });
});

describe('certificate verification failures', () => {
  test('no ca_file: the system store does not know our CA → 502 tls_failed', async () => {
    const gw = await tlsGateway(byName(mock.port), null);
    try {
      await ctl.reset();
      const err = await expectTlsFailure(await post(gw, chatBody('m')), 'system CA store');
      assert.match(err.message, /certificate verif/i, `message: ${err.message}`);
      const s = await ctl.stats();
      assert.equal(s.requests, 0, 'no request reached the upstream over the unverified connection');
      assert.ok(s.connections_accepted >= 1, 'the gateway did try to connect');
    } finally {
      await gw.stop();
    }
  });

  test('no ca_file, stream: the same 502 tls_failed before any event', async () => {
    const gw = await tlsGateway(byName(mock.port), null);
    try {
      await expectTlsFailure(await post(gw, chatBody('m', { stream: true })), 'system CA store, stream');
    } finally {
      await gw.stop();
    }
  });

  test('host name check: https://127.0.0.1 with the right CA but a DNS:localhost cert → 502 tls_failed', async () => {
    const gw = await tlsGateway(byIp(mock.port), { ca_file: pki.ca });
    try {
      await ctl.reset();
      await expectTlsFailure(await post(gw, chatBody('m')), 'IP base_url');
      const s = await ctl.stats();
      assert.equal(s.requests, 0, 'no request reached the upstream');
      assert.ok(s.connections_accepted >= 1, 'the gateway did try to connect');
    } finally {
      await gw.stop();
    }
  });

  test('host name check: the error names the mismatch, not an unspecified failure', async () => {
    const gw = await tlsGateway(byIp(mock.port), { ca_file: pki.ca });
    try {
      const err = await expectTlsFailure(await post(gw, chatBody('m')), 'IP base_url');
      // OpenSSL's own host/IP check reports "IP address mismatch" / "hostname mismatch".
      assert.match(err.message, /mismatch/i, `message: ${err.message}`);
    } finally {
      await gw.stop();
    }
  });
});

describe('verify: false', () => {
  test('without ca_file the unknown CA is accepted → 200', async () => {
    const gw = await tlsGateway(byName(mock.port), { verify: false });
    try {
      const res = await post(gw, chatBody('m'));
      assert.equal(res.status, 200);
      assert.equal((await res.json()).choices[0].message.content, expectedText(4));
      const { events } = await readSse(await post(gw, chatBody('m', { stream: true })));
      assert.equal(streamText(events), expectedText(4));
    } finally {
      await gw.stop();
    }
  });
});

describe('SNI', () => {
  test('the gateway sends the base_url host name as SNI', async () => {
    const gw = await tlsGateway(byName(mock.port), { ca_file: pki.ca });
    try {
      await ctl.reset();
      const res = await post(gw, chatBody('m'));
      assert.equal(res.status, 200);
      await res.text();
      const s = await ctl.stats();
      assert.ok(s.connections_accepted >= 1, 'the gateway made a new connection');
      assert.equal(s.last_sni, 'localhost');
      assert.deepEqual(s.sni, ['localhost']);
    } finally {
      await gw.stop();
    }
  });

  test('an IP-literal base_url sends no SNI (RFC 6066)', async () => {
    const gw = await tlsGateway(byIp(mock.port), { verify: false });
    try {
      await ctl.reset();
      const res = await post(gw, chatBody('m'));
      assert.equal(res.status, 200, 'verify: false accepts the localhost certificate at 127.0.0.1');
      await res.text();
      const s = await ctl.stats();
      assert.ok(s.connections_accepted >= 1, 'the gateway made a new connection');
      assert.equal(s.last_sni, null);
      assert.deepEqual(s.sni, []);
    } finally {
      await gw.stop();
    }
  });
});

describe('connection reuse over TLS', () => {
  test('10 sequential requests use one TLS connection (workers: 1)', async () => {
    const gw = await tlsGateway(byName(mock.port), { ca_file: pki.ca }, { workers: 1 });
    try {
      await ctl.reset();
      for (let i = 0; i < 10; i++) {
        const res = await post(gw, chatBody('m'));
        assert.equal(res.status, 200);
        assert.equal((await res.json()).choices[0].message.content, expectedText(4));
      }
      const s = await ctl.stats();
      assert.equal(s.requests, 10);
      assert.equal(s.connections_accepted, 1, `connections: ${s.connections_accepted}`);
    } finally {
      await gw.stop();
    }
  });

  test('completed streams leave the TLS connection reusable (workers: 1)', async () => {
    const gw = await tlsGateway(byName(mock.port), { ca_file: pki.ca }, { workers: 1 });
    try {
      await ctl.reset();
      for (let i = 0; i < 5; i++) {
        const { events } = await readSse(await post(gw, chatBody('m', { stream: true })));
        assert.equal(streamText(events), expectedText(4));
        const res = await post(gw, chatBody('m'));
        assert.equal(res.status, 200);
        await res.text();
      }
      const s = await ctl.stats();
      assert.equal(s.requests, 10);
      assert.equal(s.streams_completed, 5);
      assert.equal(s.connections_accepted, 1, `connections: ${s.connections_accepted}`);
    } finally {
      await gw.stop();
    }
  });

  test('with workers: 2, at most one connection per worker', async () => {
    const gw = await tlsGateway(byName(mock.port), { ca_file: pki.ca }, { workers: 2 });
    try {
      await ctl.reset();
      for (let i = 0; i < 10; i++) {
        const res = await post(gw, chatBody('m'));
        assert.equal(res.status, 200);
        await res.text();
      }
      const s = await ctl.stats();
      assert.equal(s.requests, 10);
      assert.ok(s.connections_accepted >= 1 && s.connections_accepted <= 2, `connections: ${s.connections_accepted}`);
    } finally {
      await gw.stop();
    }
  });
});
