// One endpoint, many provider dialects (issue 5), driven by the official SDKs:
// - the `openai` package through /v1/chat/completions to Anthropic-, Gemini- and
//   Azure-dialect upstreams (text, stream with usage, a tool-call round trip);
// - the `@anthropic-ai/sdk` package through /v1/messages to an OpenAI-dialect upstream
//   (translated) and to an Anthropic one (bytes passed through): create, stream, errors;
// - embeddings through openai, azure and gemini deployments;
// - failover across dialects, and the usage records (/admin/usage) each answer leaves.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { config, expectedText, startGateway, startMock } from '../integration/harness.mjs';

const ADMIN = 'adm-dialects';
const messages = [{ role: 'user', content: 'Say hello' }];
const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

let mock, gw, openai, anthropic;
before(async () => {
  mock = await startMock();
  const price = { input: 3, output: 15, cached_input: 0.3 };
  gw = await startGateway(config({
    providers: [
      { name: 'oai', url: mock.url },
      { name: 'claude', kind: 'anthropic', url: mock.root, api_key: 'sk-ant-test' },
      { name: 'gem', kind: 'gemini', url: mock.root, api_key: 'gem-key' },
      { name: 'az', kind: 'azure', url: mock.root, api_key: 'az-key', api_version: '2024-10-21' },
    ],
    models: {
      'via-anthropic': [{ provider: 'claude', model: 'claude-mock?tokens=5', price }],
      'via-gemini': [{ provider: 'gem', model: 'gemini-mock?tokens=6', price }],
      'via-azure': [{ provider: 'az', model: 'gpt-az?tokens=4', price }],
      'via-openai': [{ provider: 'oai', model: 'gpt-mock?tokens=3', price }],
      'slow-stream': [{ provider: 'oai', model: 'gpt-slow?tokens=50&chunk_delay_ms=40', price }],
      'rescue-openai': [{ provider: 'oai', model: 'r1?tokens=10&reset_after=4' }, { provider: 'oai', model: 'r2?tokens=10' }],
      'rescue-claude': [{ provider: 'claude', model: 'c1?tokens=10&reset_after=4' }, { provider: 'claude', model: 'c2?tokens=10' }],
      'rescue-across': [{ provider: 'claude', model: 'c1?tokens=10&reset_after=4' }, { provider: 'gem', model: 'g2?tokens=10' }],
      'claude-down-then-openai': [
        { provider: 'claude', model: 'claude-x?status=529' },
        { provider: 'oai', model: 'gpt-rescue?tokens=2' },
      ],
      'anthropic-429': [{ provider: 'claude', model: 'claude-y?status=429&retry_after=7' }],
      'openai-400': [{ provider: 'oai', model: 'bad?status=400&error_code=invalid_value' }],
      embed: [{ provider: 'oai', model: 'text-embedding-mock', price: { input: 0.02 } }],
      'embed-azure': [{ provider: 'az', model: 'emb-az' }],
      'embed-gemini': [{ provider: 'gem', model: 'text-embedding-004' }],
      'embed-claude-then-gemini': [{ provider: 'claude', model: 'c' }, { provider: 'gem', model: 'text-embedding-004' }],
    },
    admin: { key: ADMIN },
  }));
  openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk-anything', maxRetries: 0, timeout: 20000 });
  anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'sk-client', maxRetries: 0, timeout: 20000 });
});
after(async () => { await gw?.stop?.(); await mock?.stop?.(); });

const lastUpstream = async () => (await mock.requests()).at(-1);
const usageRecords = async () => (await (await fetch(`${gw.url}/admin/usage?limit=1000`, {
  headers: { authorization: `Bearer ${ADMIN}` },
})).json()).recent;

// A tool-call round trip: the model asks for the tool, the client answers, the model replies.
async function toolRoundTrip(model) {
  const first = await openai.chat.completions.create({ model, messages, tools: [weatherTool] });
  const call = first.choices[0].message.tool_calls?.[0];
  assert.ok(call, 'the answer carries a tool call');
  assert.equal(first.choices[0].finish_reason, 'tool_calls');
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.equal(typeof JSON.parse(call.function.arguments), 'object');
  const second = await openai.chat.completions.create({
    model,
    tools: [weatherTool],
    messages: [...messages, first.choices[0].message,
      { role: 'tool', tool_call_id: call.id, content: '{"temp_c": 21}' }],
  });
  assert.equal(second.choices[0].finish_reason, 'stop');
  assert.ok(second.choices[0].message.content.length > 0);
  return { first, second };
}

async function streamWithUsage(model) {
  const stream = await openai.chat.completions.create({
    model, messages, stream: true, stream_options: { include_usage: true },
  });
  let text = '', finish = null, usage = null, role = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    for (const c of chunk.choices) {
      role ??= c.delta?.role ?? null;
      text += c.delta?.content ?? '';
      finish = c.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, finish, usage, role };
}

describe('OpenAI SDK to an Anthropic-dialect upstream', () => {
  test('text: translated request, OpenAI-shaped answer and usage', async () => {
    const c = await openai.chat.completions.create({
      model: 'via-anthropic', messages: [{ role: 'system', content: 'Be brief.' }, ...messages], max_tokens: 64,
    });
    assert.equal(c.object, 'chat.completion');
    assert.equal(c.choices[0].message.content, expectedText(5));
    assert.equal(c.choices[0].finish_reason, 'stop');
    assert.equal(c.usage.completion_tokens, 5);
    assert.ok(c.usage.prompt_tokens > 0);
    const up = await lastUpstream();
    assert.match(up.target, /\/v1\/messages$/);
    assert.equal(up.headers['x-api-key'], 'sk-ant-test');
    assert.ok(up.headers['anthropic-version']);
    assert.equal(up.headers.authorization, undefined, 'no OpenAI-style auth to Anthropic');
    const sent = JSON.parse(up.body);
    assert.equal(sent.system, 'Be brief.', 'system prompt hoisted');
    assert.equal(sent.max_tokens, 64);
    assert.deepEqual(sent.messages.map((m) => m.role), ['user']);
  });

  test('stream with usage', async () => {
    const r = await streamWithUsage('via-anthropic');
    assert.equal(r.role, 'assistant');
    assert.equal(r.text, expectedText(5));
    assert.equal(r.finish, 'stop');
    assert.equal(r.usage.completion_tokens, 5);
    assert.ok(r.usage.prompt_tokens > 0);
  });

  test('tool call round trip', async () => {
    await toolRoundTrip('via-anthropic');
    const sent = JSON.parse((await lastUpstream()).body);
    const last = sent.messages.at(-1);
    assert.equal(last.role, 'user');
    assert.equal(last.content[0].type, 'tool_result');
  });

  test('a 429 becomes an OpenAI RateLimitError with Retry-After', async () => {
    await assert.rejects(openai.chat.completions.create({ model: 'anthropic-429', messages }), (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError, e.constructor.name);
      assert.equal(e.headers.get('retry-after'), '7');
      return true;
    });
  });
});

describe('OpenAI SDK to a Gemini-dialect upstream', () => {
  test('text', async () => {
    const c = await openai.chat.completions.create({ model: 'via-gemini', messages });
    assert.equal(c.choices[0].message.content, expectedText(6));
    assert.equal(c.choices[0].finish_reason, 'stop');
    assert.equal(c.usage.completion_tokens, 6);
    const up = await lastUpstream();
    assert.match(up.target, /^\/v1beta\/models\/gemini-mock%3Ftokens%3D6:generateContent$/);
    assert.equal(up.headers['x-goog-api-key'], 'gem-key');
    assert.ok(JSON.parse(up.body).contents);
  });

  test('stream with usage (Gemini streams end without a terminating event)', async () => {
    const r = await streamWithUsage('via-gemini');
    assert.equal(r.role, 'assistant');
    assert.equal(r.text, expectedText(6));
    assert.equal(r.finish, 'stop');
    assert.equal(r.usage.completion_tokens, 6);
    assert.match((await lastUpstream()).target, /:streamGenerateContent\?alt=sse$/);
  });

  test('tool call round trip', async () => {
    await toolRoundTrip('via-gemini');
    const sent = JSON.parse((await lastUpstream()).body);
    assert.ok(sent.contents.at(-1).parts.some((p) => p.functionResponse?.name === 'get_weather'));
  });
});

describe('OpenAI SDK to an Azure-dialect upstream', () => {
  test('text, with the deployment URL, api-version and api-key', async () => {
    const c = await openai.chat.completions.create({ model: 'via-azure', messages });
    assert.equal(c.choices[0].message.content, expectedText(4));
    const up = await lastUpstream();
    assert.equal(up.target, '/openai/deployments/gpt-az%3Ftokens%3D4/chat/completions?api-version=2024-10-21');
    assert.equal(up.headers['api-key'], 'az-key');
  });

  test('stream with usage', async () => {
    const r = await streamWithUsage('via-azure');
    assert.equal(r.text, expectedText(4));
    assert.equal(r.usage.completion_tokens, 4);
  });

  test('tool call round trip', async () => {
    await toolRoundTrip('via-azure');
  });
});

describe('Anthropic SDK through /v1/messages', () => {
  test('to an OpenAI-dialect upstream: create', async () => {
    const m = await anthropic.messages.create({
      model: 'via-openai', max_tokens: 100, system: 'Be brief.', messages: [{ role: 'user', content: 'Say hello' }],
    });
    assert.equal(m.type, 'message');
    assert.equal(m.role, 'assistant');
    assert.equal(m.content[0].type, 'text');
    assert.equal(m.content[0].text, expectedText(3));
    assert.equal(m.stop_reason, 'end_turn');
    assert.equal(m.usage.output_tokens, 3);
    assert.ok(m.usage.input_tokens > 0);
    const sent = JSON.parse((await lastUpstream()).body);
    assert.equal(sent.messages[0].role, 'system');
    assert.match((await lastUpstream()).target, /\/v1\/chat\/completions$/);
  });

  test('to an OpenAI-dialect upstream: stream, with the SDK assembling the message', async () => {
    const stream = anthropic.messages.stream({
      model: 'via-openai', max_tokens: 100, messages: [{ role: 'user', content: 'Say hello' }],
    });
    let text = '';
    stream.on('text', (t) => { text += t; });
    const m = await stream.finalMessage();
    assert.equal(text, expectedText(3));
    assert.equal(m.content[0].text, expectedText(3));
    assert.equal(m.stop_reason, 'end_turn');
    assert.equal(m.usage.output_tokens, 3);
  });

  test('to an OpenAI-dialect upstream: a tool call comes back as tool_use', async () => {
    const m = await anthropic.messages.create({
      model: 'via-openai', max_tokens: 100, messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [{ name: 'get_weather', description: 'weather', input_schema: weatherTool.function.parameters }],
    });
    assert.equal(m.stop_reason, 'tool_use');
    const block = m.content.find((b) => b.type === 'tool_use');
    assert.equal(block.name, 'get_weather');
    assert.equal(typeof block.input, 'object');
  });

  test('to an Anthropic upstream: the bytes pass through (create and stream)', async () => {
    const m = await anthropic.messages.create({
      model: 'via-anthropic', max_tokens: 100, messages: [{ role: 'user', content: 'Say hello' }],
    });
    assert.equal(m.content[0].text, expectedText(5));
    assert.match(m.id, /^msg_mock_/, 'the provider\'s own message id: not translated');
    const up = await lastUpstream();
    assert.equal(JSON.parse(up.body).model, 'claude-mock?tokens=5');
    assert.equal(up.headers['x-api-key'], 'sk-ant-test', 'the provider key, not the client\'s');
    const stream = anthropic.messages.stream({
      model: 'via-anthropic', max_tokens: 100, messages: [{ role: 'user', content: 'Say hello' }],
    });
    const fm = await stream.finalMessage();
    assert.equal(fm.content[0].text, expectedText(5));
    assert.equal(fm.usage.output_tokens, 5);
  });

  test('errors in Anthropic\'s shape: unknown model, upstream 400, rate limit', async () => {
    await assert.rejects(anthropic.messages.create({ model: 'nope', max_tokens: 10, messages }), (e) => {
      assert.ok(e instanceof Anthropic.NotFoundError, e.constructor.name);
      assert.equal(e.error.type, 'error');
      assert.equal(e.error.error.type, 'not_found_error');
      return true;
    });
    await assert.rejects(anthropic.messages.create({ model: 'openai-400', max_tokens: 10, messages }), (e) => {
      assert.ok(e instanceof Anthropic.BadRequestError, e.constructor.name);
      assert.equal(e.error.error.type, 'invalid_request_error');
      return true;
    });
    await assert.rejects(anthropic.messages.create({ model: 'anthropic-429', max_tokens: 10, messages }), (e) => {
      assert.ok(e instanceof Anthropic.RateLimitError, e.constructor.name);
      return true;
    });
    await assert.rejects(anthropic.messages.create({ model: 'via-openai', messages }), (e) => {
      assert.ok(e instanceof Anthropic.BadRequestError, 'max_tokens is required in this dialect');
      assert.match(e.message, /max_tokens/);
      return true;
    });
  });
});

describe('GET /v1/models in both dialects', () => {
  test('the OpenAI SDK lists every model with its owner; the Anthropic SDK gets its shape', async () => {
    const ids = [];
    for await (const m of openai.models.list()) {
      ids.push(m.id);
      if (m.id === 'via-gemini') assert.equal(m.owned_by, 'gem');
    }
    assert.ok(ids.includes('via-anthropic') && ids.includes('embed'));
    const page = await anthropic.models.list();
    const names = page.data.map((m) => m.id);
    assert.ok(names.includes('via-anthropic'));
    assert.equal(page.data[0].type, 'model');
  });
});

describe('failover across dialects', () => {
  test('an overloaded Anthropic deployment falls over to an OpenAI one, invisibly', async () => {
    const c = await openai.chat.completions.create({ model: 'claude-down-then-openai', messages });
    assert.equal(c.choices[0].message.content, expectedText(2));
    const s = await streamWithUsage('claude-down-then-openai');
    assert.equal(s.text, expectedText(2));
    const m = await anthropic.messages.create({ model: 'claude-down-then-openai', max_tokens: 10, messages });
    assert.equal(m.content[0].text, expectedText(2));
  });
});

describe('stream rescue through the SDKs', () => {
  test('the OpenAI SDK\'s stream completes normally across a rescue', async () => {
    const r = await streamWithUsage('rescue-openai');
    assert.equal(r.text, expectedText(10));
    assert.equal(r.finish, 'stop');
    assert.equal(r.usage.completion_tokens, 10);
  });

  test('across dialects: an Anthropic stream cut mid-answer is finished by Gemini', async () => {
    const r = await streamWithUsage('rescue-across');
    assert.equal(r.text, expectedText(10));
    const cont = JSON.parse((await lastUpstream()).body);
    assert.equal(cont.contents.at(-1).role, 'model', 'the prefill is Gemini\'s trailing model turn');
  });

  test('Anthropic client, Anthropic deployments: a passed-through stream is rescued too', async () => {
    const stream = anthropic.messages.stream({
      model: 'rescue-claude', max_tokens: 100, messages: [{ role: 'user', content: 'Say hello' }],
    });
    let text = '';
    stream.on('text', (t) => { text += t; });
    const m = await stream.finalMessage();
    assert.equal(text, expectedText(10));
    assert.equal(m.content.length, 1);
    assert.equal(m.content[0].text, expectedText(10));
    assert.match(m.id, /^msg_mock_/, 'the message the client started with');
    const cont = JSON.parse((await lastUpstream()).body);
    assert.equal(cont.messages.at(-1).role, 'assistant');
  });

  test('the Anthropic SDK\'s stream completes across a rescue', async () => {
    const stream = anthropic.messages.stream({
      model: 'rescue-openai', max_tokens: 100, messages: [{ role: 'user', content: 'Say hello' }],
    });
    const m = await stream.finalMessage();
    assert.equal(m.content.length, 1);
    assert.equal(m.content[0].text, expectedText(10));
    assert.equal(m.stop_reason, 'end_turn');
  });
});

describe('embeddings', () => {
  test('through an OpenAI deployment (SDK, one and many inputs)', async () => {
    const one = await openai.embeddings.create({ model: 'embed', input: 'hello world' });
    assert.equal(one.data.length, 1);
    assert.ok(one.data[0].embedding.length > 0);
    const many = await openai.embeddings.create({ model: 'embed', input: ['a', 'b', 'c'] });
    assert.deepEqual(many.data.map((d) => d.index), [0, 1, 2]);
    assert.ok(many.usage.prompt_tokens > 0);
  });

  test('through Azure and Gemini deployments', async () => {
    const az = await openai.embeddings.create({ model: 'embed-azure', input: ['x', 'y'], encoding_format: 'float' });
    assert.equal(az.data.length, 2);
    assert.match((await lastUpstream()).target, /^\/openai\/deployments\/emb-az\/embeddings\?api-version=/);
    const gem = await openai.embeddings.create({ model: 'embed-gemini', input: ['x', 'y'], encoding_format: 'float' });
    assert.equal(gem.data.length, 2);
    assert.ok(gem.data[1].embedding.length > 0);
    assert.match((await lastUpstream()).target, /:batchEmbedContents$/);
    const single = await openai.embeddings.create({ model: 'embed-gemini', input: 'x', encoding_format: 'float' });
    assert.equal(single.data.length, 1);
    assert.match((await lastUpstream()).target, /:embedContent$/);
  });

  test('an Anthropic deployment is skipped (no embeddings API); bad input is a 400', async () => {
    const r = await openai.embeddings.create({ model: 'embed-claude-then-gemini', input: 'x', encoding_format: 'float' });
    assert.equal(r.data.length, 1);
    await assert.rejects(openai.embeddings.create({ model: 'embed', input: [] }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.param, 'input');
      return true;
    });
  });
});

describe('usage you can bill by', () => {
  test('each answer leaves one record with provider counts and the cost from the prices', async () => {
    const c = await openai.chat.completions.create({ model: 'via-anthropic', messages });
    const rec = (await usageRecords()).at(-1);
    assert.equal(rec.deployment, 'claude/claude-mock?tokens=5');
    assert.equal(rec.provenance, 'provider');
    assert.equal(rec.input_tokens, c.usage.prompt_tokens);
    assert.equal(rec.output_tokens, c.usage.completion_tokens);
    const expected = (rec.input_tokens * 3 + rec.output_tokens * 15) / 1e6;
    assert.ok(Math.abs(rec.cost_usd - expected) < 1e-12, `${rec.cost_usd} vs ${expected}`);
  });

  test('a stream the client cut is recorded as estimated and flagged', async () => {
    const ac = new AbortController();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', signal: ac.signal, headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'slow-stream', messages, stream: true }),
    });
    const reader = res.body.getReader();
    let seen = '';
    while (!seen.includes('tok3')) seen += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    let rec;
    for (let i = 0; i < 50 && !rec; i++) {
      rec = (await usageRecords()).find((r) => r.deployment.startsWith('oai/gpt-slow') && r.client_cut);
      if (!rec) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(rec, 'a record for the cut stream');
    assert.equal(rec.provenance, 'estimated');
    assert.ok(rec.output_tokens >= 1 && rec.output_tokens < 50, `output ${rec.output_tokens}`);
    assert.ok(rec.input_tokens > 0);
  });
});
