// Test harness: starts the real switchyard binary and the bundled mock provider on
// loopback ephemeral ports, and stops them when the test file ends.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const GATEWAY_BIN = process.env.SWITCHYARD_BIN || path.join(ROOT, 'build-test/switchyard');
export const MOCK_BIN = process.env.SWITCHYARD_MOCK_BIN || path.join(ROOT, 'build-test/switchyard-mock');

const live = new Set();
after(async () => { await Promise.all([...live].map((p) => p.stop())); });
process.on('exit', () => { for (const p of live) p.proc.kill('SIGKILL'); });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function tmpDir() {
  return mkdtempSync(path.join(os.tmpdir(), 'switchyard-test-'));
}

// Spawns `bin args`, resolves once a stdout line matches `ready`, with the match.
function launch(bin, args, ready, { env = {}, name = path.basename(bin) } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const handle = {
      proc, name, stdout: '', stderr: '',
      exited: new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal }))),
      async stop(signal = 'SIGTERM', timeoutMs = 10000) {
        live.delete(handle);
        if (proc.exitCode !== null || proc.signalCode !== null) return handle.exited;
        proc.kill(signal);
        const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
        const r = await handle.exited;
        clearTimeout(t);
        return r;
      },
    };
    live.add(handle);
    let settled = false;
    const timer = setTimeout(() => {
      if (!settled) { settled = true; proc.kill('SIGKILL'); reject(new Error(`${name} did not start: ${handle.stderr}`)); }
    }, 30000);
    proc.stdout.on('data', (d) => {
      handle.stdout += d;
      const m = handle.stdout.match(ready);
      if (m && !settled) { settled = true; clearTimeout(timer); resolve({ handle, match: m }); }
    });
    proc.stderr.on('data', (d) => { handle.stderr += d; });
    proc.on('exit', (code) => {
      if (!settled) { settled = true; clearTimeout(timer); reject(new Error(`${name} exited ${code}: ${handle.stderr}`)); }
    });
  });
}

export async function startMock({ tlsCert, tlsKey, listen = '127.0.0.1:0' } = {}) {
  const args = ['--listen', listen];
  if (tlsCert) args.push('--tls-cert', tlsCert, '--tls-key', tlsKey);
  const { handle, match } = await launch(MOCK_BIN, args, /LISTENING (\d+)/, { name: 'mock' });
  const port = Number(match[1]);
  const scheme = tlsCert ? 'https' : 'http';
  const base = `http://127.0.0.1:${port}`;
  return Object.assign(handle, {
    port,
    url: `${scheme}://127.0.0.1:${port}/v1`,
    root: `${scheme}://127.0.0.1:${port}`,  // base_url for anthropic, gemini and azure
    async stats() { return (await fetch(`${base}/mock/stats`)).json(); },
    async requests() { return (await fetch(`${base}/mock/requests`)).json(); },
    async reset() { await fetch(`${base}/mock/reset`, { method: 'POST' }); },
  });
}

// yaml: the whole config text; "${MOCK_URL}" style placeholders are the caller's business.
export async function startGateway(yaml, { env = {}, args = [] } = {}) {
  const dir = tmpDir();
  const file = path.join(dir, 'switchyard.yaml');
  writeFileSync(file, yaml);
  const { handle, match } = await launch(GATEWAY_BIN, ['--config', file, ...args],
    /switchyard listening on (\S+):(\d+)/, { env, name: 'switchyard' });
  const port = Number(match[2]);
  return Object.assign(handle, { port, url: `http://127.0.0.1:${port}`, configFile: file });
}

// A minimal config: one provider `mock` at mockUrl and the given models.
// models: { name: [ 'upstream-model?directives', ... ] } or full deployment objects.
// modelOptions: { name: { hedge_after_ms: 100, ... } } — extra keys per model.
export function config({ providers, models, server = {}, routing, admin, telemetry, strategy = 'fallback', modelOptions = {} }) {
  const lines = ['server:', `  listen: "127.0.0.1:0"`, `  workers: ${server.workers ?? 2}`];
  for (const [k, v] of Object.entries(server)) if (k !== 'workers') lines.push(`  ${k}: ${JSON.stringify(v)}`);
  lines.push('providers:');
  for (const p of providers) {
    lines.push(`  - name: ${p.name}`, `    kind: ${p.kind ?? 'openai'}`, `    base_url: ${JSON.stringify(p.url)}`,
      `    api_key: ${JSON.stringify(p.api_key ?? 'sk-upstream-secret')}`);
    if (p.api_version) lines.push(`    api_version: ${JSON.stringify(p.api_version)}`);
    if (p.max_connections) lines.push(`    max_connections: ${p.max_connections}`);
    if (p.max_queue !== undefined) lines.push(`    max_queue: ${p.max_queue}`);
    if (p.headers) lines.push(`    headers: ${JSON.stringify(p.headers)}`);
    if (p.tls) lines.push(`    tls: ${JSON.stringify(p.tls)}`);
    const t = { connect_ms: 2000, first_byte_ms: 5000, first_token_ms: 5000, idle_ms: 5000, total_ms: 30000, ...(p.timeouts || {}) };
    lines.push(`    timeouts: ${JSON.stringify(t)}`);
  }
  lines.push('models:');
  for (const [name, deps] of Object.entries(models)) {
    const strat = typeof strategy === 'string' ? strategy : (strategy[name] || 'fallback');
    lines.push(`  - name: ${JSON.stringify(name)}`, `    strategy: ${strat}`);
    for (const [k, v] of Object.entries(modelOptions[name] || {})) lines.push(`    ${k}: ${JSON.stringify(v)}`);
    lines.push(`    deployments:`);
    for (const d of deps) {
      const dep = typeof d === 'string' ? { provider: providers[0].name, model: d } : d;
      lines.push(`      - ${JSON.stringify(dep)}`);
    }
  }
  if (routing) lines.push(`routing: ${JSON.stringify(routing)}`);
  if (admin) lines.push(`admin: ${JSON.stringify(admin)}`);
  if (telemetry) lines.push(`telemetry: ${JSON.stringify(telemetry)}`);
  return lines.join('\n') + '\n';
}

export function chatBody(model, extra = {}) {
  return JSON.stringify({ model, messages: [{ role: 'user', content: 'Say hello' }], ...extra });
}

export async function post(gw, body, headers = {}) {
  return fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

// Reads an SSE response body into { events: [data strings], raw }.
export async function readSse(res) {
  const raw = await res.text();
  const events = [];
  for (const block of raw.split('\n\n')) {
    const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
    if (data) events.push(data);
  }
  return { raw, events };
}

// The text of an answer assembled from stream chunks.
export function streamText(events) {
  let text = '';
  for (const e of events) {
    if (e === '[DONE]') continue;
    const j = JSON.parse(e);
    for (const c of j.choices || []) text += c.delta?.content || '';
  }
  return text;
}

export function expectedText(tokens) {
  return Array.from({ length: tokens }, (_, i) => (i === 0 ? 'tok0' : ` tok${i}`)).join('');
}

// Raw HTTP over a socket: sends `chunks` (strings/buffers, with optional delays), returns
// everything received until the server closes (or timeoutMs).
export function rawExchange(port, chunks, { timeoutMs = 15000, host = '127.0.0.1' } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(port, host);
    let data = '';
    let closedAt = null;
    const started = Date.now();
    const done = (why) => { clearTimeout(t); sock.destroy(); resolve({ data, why, ms: Date.now() - started, closedAt }); };
    const t = setTimeout(() => done('timeout'), timeoutMs);
    sock.on('data', (d) => { data += d; });
    sock.on('end', () => { closedAt = Date.now() - started; done('end'); });
    sock.on('error', (e) => done(`error:${e.code}`));
    sock.on('connect', async () => {
      for (const c of chunks) {
        if (typeof c === 'number') { await sleep(c); continue; }
        if (!sock.destroyed) sock.write(c);
      }
    });
  });
}

export function statusOf(raw) {
  const m = raw.match(/^HTTP\/1\.1 (\d{3})/);
  return m ? Number(m[1]) : 0;
}

// CA (basicConstraints CA:TRUE) and a leaf for DNS:localhost only, signed by the CA.
// The leaf's CN is not a host name, so only the subjectAltName can match.
export function makePki() {
  const dir = tmpDir();
  const f = (name) => path.join(dir, name);
  const ossl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2',
    '-subj', '/CN=switchyard test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ossl('req', '-new', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'),
    '-subj', '/CN=switchyard mock server');
  writeFileSync(f('server.ext'), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=DNS:localhost',
  ].join('\n') + '\n');
  ossl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
    '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('server.ext'));
  return { dir, ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

