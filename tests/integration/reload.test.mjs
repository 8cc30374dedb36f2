// SIGHUP reloads the configuration: new workers take over the listening sockets, the old
// ones finish what they are doing (a stream in flight ends whole), no new connection is
// refused meanwhile, a bad file is refused and the previous configuration keeps serving;
// switchyard_config_reloads_total counts both.
import assert from 'node:assert/strict';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import {
  chatBody, config, expectedText, post, readSse, sleep, startGateway, startMock, streamText,
} from './harness.mjs';

let mock, gw;
const base = (models) => config({
  server: { workers: 2 },
  providers: [{ name: 'mock', url: mock.url }],
  models,
  admin: { key: 'adm-reload' },
  telemetry: { access_log: 'off' },
});

before(async () => {
  mock = await startMock();
  gw = await startGateway(base({ a: ['a?tokens=6&chunk_delay_ms=150'], fast: ['f?tokens=1'] }));
});
after(async () => { await gw?.stop?.(); await mock?.stop?.(); });

// One request on a connection of its own (no keep-alive): every one must be accepted.
function freshRequest(port, model) {
  return new Promise((resolve) => {
    const body = chatBody(model);
    const req = http.request({
      host: '127.0.0.1', port, path: '/v1/chat/completions', method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', (e) => resolve(`error ${e.code}`));
    req.setTimeout(10000, () => { req.destroy(); resolve('timeout'); });
    req.end(body);
  });
}

// GET on a new connection: answered by the current workers (a keep-alive connection from
// before a reload gets one more answer from the previous ones, then Connection: close).
function freshGet(port, path) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

async function metric(name) {
  const text = await freshGet(gw.port, '/metrics');
  const m = text.match(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
}

async function until(what, f) {
  for (let i = 0; i < 100; i++) {
    if (await f()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('SIGHUP: the new configuration serves, an answer in flight ends whole, no connection is lost', async () => {
  assert.equal(await metric('switchyard_config_reloads_total{result="success"}'), 0);
  // A stream that takes about a second, started on the old workers.
  const streaming = post(gw, chatBody('a', { stream: true })).then(async (res) => {
    assert.equal(res.status, 200);
    return readSse(res);
  });
  await sleep(200);
  // Connections opened all through the reload, each on its own socket.
  let load = true;
  const statuses = [];
  const loader = (async () => {
    while (load) {
      const batch = await Promise.all(Array.from({ length: 4 }, () => freshRequest(gw.port, 'fast')));
      statuses.push(...batch);
    }
  })();
  await sleep(100);
  writeFileSync(gw.configFile, base({ a: ['a?tokens=6&chunk_delay_ms=150'], fast: ['f?tokens=1'], b: ['b?tokens=2'] }));
  gw.proc.kill('SIGHUP');
  await until('model b to be served', async () => {
    const r = await post(gw, chatBody('b'));
    await r.text();
    return r.status === 200;
  });
  await sleep(300);
  load = false;
  await loader;

  const { events } = await streaming;
  assert.equal(events.at(-1), '[DONE]', 'the stream begun before the reload finished');
  assert.equal(streamText(events), expectedText(6));
  assert.ok(statuses.length >= 8, `load ran through the reload (${statuses.length} requests)`);
  assert.deepEqual([...new Set(statuses)], [200], `every connection answered: ${statuses.join(',')}`);
  assert.equal(await metric('switchyard_config_reloads_total{result="success"}'), 1);
  const at = await metric('switchyard_config_last_reload_success_timestamp_seconds');
  assert.ok(Math.abs(at - Date.now() / 1000) < 60, `reload time ${at}`);
  assert.match(gw.stderr, /reloaded .*switchyard\.yaml: 1 provider\(s\), 3 model\(s\), 2 worker\(s\)/);
});

test('SIGHUP with a bad file: refused with the path of the error, the old configuration keeps serving', async () => {
  writeFileSync(gw.configFile, `${base({ b: ['b?tokens=2'] })}routing: { retry: { max_attempts: many } }\n`);
  gw.proc.kill('SIGHUP');
  await until('the failed reload to be counted',
    async () => (await metric('switchyard_config_reloads_total{result="failure"}')) === 1);
  assert.match(gw.stderr, /routing\.retry\.max_attempts: expected an integer; still serving the previous configuration/);
  const r = await post(gw, chatBody('fast'));
  assert.equal(r.status, 200, 'a model the bad file drops is still served');
  await r.json();
  assert.equal(await metric('switchyard_config_reloads_total{result="success"}'), 1);
});

test('a reload changes the worker count; keep-alive clients carry on; the process still drains cleanly', async () => {
  const warm = await post(gw, chatBody('fast'));  // a keep-alive connection to the old workers
  assert.equal(warm.status, 200);
  await warm.json();
  writeFileSync(gw.configFile, base({ fast: ['f?tokens=1'] }).replace('workers: 2', 'workers: 3'));
  gw.proc.kill('SIGHUP');
  await until('the second reload', async () => (await metric('switchyard_config_reloads_total{result="success"}')) === 2);
  // The idle keep-alive connection gets one more answer (with Connection: close), then the
  // client reconnects to the new workers: nothing fails.
  for (let i = 0; i < 5; i++) {
    const r = await post(gw, chatBody('fast'));
    assert.equal(r.status, 200);
    if (i === 0) assert.equal(r.headers.get('connection'), 'close');
    await r.json();
  }
  assert.equal(await metric('switchyard_workers'), 3);
  const codes = await Promise.all(Array.from({ length: 12 }, () => freshRequest(gw.port, 'fast')));
  assert.deepEqual([...new Set(codes)], [200]);
  const { code } = await gw.stop();
  assert.equal(code, 0, `clean exit: ${gw.stderr.slice(-2000)}`);
});
