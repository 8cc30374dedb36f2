// The command line: --version, --help, --check-config, exit codes, and secrets kept out
// of what the process prints.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { GATEWAY_BIN, chatBody, config, post, startGateway, startMock, tmpDir } from './harness.mjs';

function run(args, env = {}) {
  const r = spawnSync(GATEWAY_BIN, args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function file(text) {
  const f = path.join(tmpDir(), 'c.yaml');
  writeFileSync(f, text);
  return f;
}

const valid = config({ providers: [{ name: 'p', url: 'http://127.0.0.1:9/v1' }], models: { m: ['x'] } });

test('--version and --help', () => {
  const v = run(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.out, /^switchyard \d+\.\d+\.\d+/);
  const h = run(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.out, /--check-config FILE/);
  assert.equal(run(['--bogus']).code, 2);
});

test('--check-config: 0 for a valid file', () => {
  const r = run(['--check-config', file(valid)]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /OK/);
});

test('--check-config: 2 and the path of the bad field', () => {
  const bad = valid.replace('"model":"x"}', '"model":"x","price":{"input":"cheap"}}');
  const r = run(['--check-config', file(bad)]);
  assert.equal(r.code, 2);
  assert.match(r.err, /models\[0\]\.deployments\[0\]\.price\.input: expected a number/);
  const unknown = run(['--check-config', file(valid + 'colour: blue\n')]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /colour/);
});

test('${ENV} interpolation: default, value, and an unset variable is an error', () => {
  const text = valid.replace('"sk-upstream-secret"', '"${SY_TEST_KEY}"');
  assert.equal(run(['--check-config', file(text)], { SY_TEST_KEY: 'k' }).code, 0);
  const unset = run(['--check-config', file(text)]);
  assert.equal(unset.code, 2);
  assert.match(unset.err, /SY_TEST_KEY/);
  assert.equal(run(['--check-config', file(text.replace('${SY_TEST_KEY}', '${SY_TEST_KEY:-dflt}'))]).code, 0);
});

test('starting with an invalid config exits 2 without serving', () => {
  const r = run(['--config', file('server: {listen: nowhere}\n')]);
  assert.equal(r.code, 2);
  assert.match(r.err, /server\.listen/);
});

test('the provider key never appears in what the gateway prints, even on failures', async () => {
  const mock = await startMock();
  const secret = 'sk-live-DO-NOT-PRINT-1234567890';
  const gw = await startGateway(config({
    providers: [{ name: 'mock', url: mock.url, api_key: secret }, { name: 'dead', url: 'http://127.0.0.1:1/v1', api_key: secret }],
    models: { m: ['a?status=500', { provider: 'dead', model: 'x' }], ok: ['b'] },
  }), { args: ['--log-level', 'trace'] });
  for (const model of ['m', 'ok']) {
    const res = await post(gw, chatBody(model), { authorization: `Bearer ${secret}-client` });
    const text = await res.text();
    assert.ok(!text.includes(secret), 'not in the response');
  }
  await gw.stop();
  assert.ok(!gw.stdout.includes(secret) && !gw.stderr.includes(secret), 'not in the logs');
  assert.ok(gw.stderr.length > 0, 'trace logging did print something');
});
