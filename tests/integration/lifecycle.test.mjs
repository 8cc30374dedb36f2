// Connection limits and deadlines, client disconnects, graceful drain.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  chatBody, config, post, rawExchange, readSse, sleep, startGateway, startMock, statusOf, streamText, expectedText,
} from './harness.mjs';

let mock, gw;
before(async () => {
  mock = await startMock();
  gw = await startGateway(config({
    server: { workers: 1, max_body_bytes: 2048, max_header_bytes: 1024, header_timeout_ms: 500, idle_timeout_ms: 1500, drain_timeout_ms: 8000 },
    providers: [{ name: 'mock', url: mock.url, max_connections: 1, max_queue: 1 }],
    models: { m: ['a?tokens=3'], hang: ['h?hang=1'], slow: ['b?tokens=200&chunk_delay_ms=20'], held: ['c?latency_ms=800&tokens=2'] },
  }));
});

describe('limits and deadlines', () => {
  test('a body over max_body_bytes gets 413', async () => {
    const res = await post(gw, chatBody('m', { pad: 'x'.repeat(4000) }));
    assert.equal(res.status, 413);
    assert.ok((await res.json()).error.message);
  });

  test('a head over max_header_bytes gets 431', async () => {
    const res = await fetch(`${gw.url}/healthz`, { headers: { 'x-big': 'y'.repeat(3000) } });
    assert.equal(res.status, 431);
    assert.ok((await res.json()).error.message);
  });

  test('a head sent too slowly gets 408 and the connection is closed', async () => {
    const r = await rawExchange(gw.port, ['GET /healthz HTTP/1.1\r\n', 300, 'Host: x\r\n', 2000, '\r\n']);
    assert.equal(statusOf(r.data), 408);
    assert.equal(r.why, 'end');
    assert.ok(r.closedAt < 1800, `closed after ${r.closedAt} ms`);
  });

  test('an idle keep-alive connection is closed after idle_timeout_ms', async () => {
    const r = await rawExchange(gw.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n']);
    assert.equal(statusOf(r.data), 200);
    assert.equal(r.why, 'end');
    assert.ok(r.closedAt >= 1300 && r.closedAt < 4000, `closed after ${r.closedAt} ms`);
  });

  test('pipelined keep-alive requests on one connection', async () => {
    const req = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    const r = await rawExchange(gw.port, [req + req + 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    assert.equal(r.data.match(/HTTP\/1\.1 200/g).length, 3);
  });

  test('a full pool queue overflows into a clean 503 pool_overflow', async () => {
    // max_connections 1, max_queue 1: a third concurrent request cannot even wait.
    const reqs = [0, 1, 2].map(() => post(gw, chatBody('held')));
    const res = await Promise.all(reqs);
    const statuses = res.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 503]);
    const bad = res.find((r) => r.status === 503);
    assert.equal((await bad.json()).error.code, 'pool_overflow');
    await Promise.all(res.filter((r) => r.status === 200).map((r) => r.text()));
  });
});

describe('client disconnect', () => {
  test('closing the client mid-stream cancels the upstream attempt and frees its connection', async () => {
    await mock.reset();
    const ac = new AbortController();
    const res = await post(gw, chatBody('slow', { stream: true }), {}).catch(() => null);
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    ac.abort();
    // 200 tokens at 20 ms would take 4 s; the mock must see the stream aborted quickly.
    let s;
    for (let i = 0; i < 40; i++) {
      await sleep(100);
      s = await mock.stats();
      if (s.streams_aborted >= 1) break;
    }
    assert.equal(s.streams_aborted, 1);
    assert.equal(s.streams_completed, 0);
    // The pool slot is free again: a new request on the one-connection pool succeeds.
    const again = await post(gw, chatBody('m'));
    assert.equal(again.status, 200);
    await again.text();
  });
});

describe('client gone before the answer starts', () => {
  test('a client that leaves while the provider is still silent cancels the upstream attempt', async () => {
    await mock.reset();
    const ac = new AbortController();
    const pending = fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: chatBody('hang', { stream: true }), signal: ac.signal,
    }).catch((e) => e);
    await sleep(300);
    ac.abort();
    await pending;
    // first_byte_ms is 5 s: without the watch the gateway would hold the upstream that long.
    let s;
    for (let i = 0; i < 20; i++) {
      await sleep(50);
      s = await mock.stats();
      if (s.streams_aborted >= 1) break;
    }
    assert.equal(s.streams_aborted, 1, 'the provider saw its connection closed');
    const again = await post(gw, chatBody('m'));
    assert.equal(again.status, 200, 'the one-connection pool is free again');
    await again.text();
  });
});

describe('graceful drain', () => {
  test('SIGTERM: stop accepting, /readyz 503, finish the running stream, exit 0', async () => {
    const g = await startGateway(config({
      server: { workers: 2, drain_timeout_ms: 10000 },
      providers: [{ name: 'mock', url: mock.url }],
      models: { slow: ['b?tokens=40&chunk_delay_ms=50'] },
    }));
    // A keep-alive connection opened before the signal, to ask /readyz during the drain.
    const res = await post(g, chatBody('slow', { stream: true }));
    const body = readSse(res);
    await sleep(300);
    g.proc.kill('SIGTERM');
    await sleep(200);
    // New connections are refused once the listeners are closed.
    await assert.rejects(fetch(`${g.url}/healthz`));
    const { events } = await body;
    assert.equal(events.at(-1), '[DONE]', 'the in-flight stream finished');
    assert.equal(streamText(events), expectedText(40));
    const { code } = await g.exited;
    assert.equal(code, 0);
  });

  test('/readyz turns 503 on a connection kept open through the drain', async () => {
    const g = await startGateway(config({
      server: { workers: 1, drain_timeout_ms: 10000 },
      providers: [{ name: 'mock', url: mock.url }],
      models: { slow: ['b?tokens=30&chunk_delay_ms=50'] },
    }));
    // One raw connection: a stream is in flight on it while another asks /readyz... on the
    // same worker we use a second keep-alive connection opened before the signal.
    const net = await import('node:net');
    const sock = net.connect(g.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    const streaming = post(g, chatBody('slow', { stream: true })).then(readSse);
    await sleep(300);
    g.proc.kill('SIGTERM');
    await sleep(200);
    let got = '';
    sock.on('data', (d) => { got += d; });
    sock.write('GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n');
    for (let i = 0; i < 50 && !got.includes('\r\n\r\n'); i++) await sleep(20);
    // The idle connection is either answered 503 (request raced the drain) or closed.
    if (got) assert.equal(statusOf(got), 503);
    sock.destroy();
    const { events } = await streaming;
    assert.equal(events.at(-1), '[DONE]');
    assert.equal((await g.exited).code, 0);
  });
});
