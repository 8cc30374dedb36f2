// Conformance with the official OpenAI Node SDK: a client that only changes baseURL must
// work through switchyard exactly as it does against OpenAI — answers, streams, usage,
// tool calls, typed errors (including one that breaks a stream mid-way) and headers.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { config, expectedText, startGateway, startMock } from '../integration/harness.mjs';

const messages = [{ role: 'user', content: 'Say hello' }];
const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

let mock, gw, client;
before(async () => {
  mock = await startMock();
  const d = (model) => ({ provider: 'mock', model });
  gw = await startGateway(config({
    providers: [
      { name: 'mock', url: mock.url },
      { name: 'dead', url: 'http://127.0.0.1:1/v1', timeouts: { connect_ms: 500 } },
    ],
    models: {
      'gpt-sdk': ['sdk-model?tokens=5'],
      tools: ['sdk-tools?tokens=4'],
      policy: ['p?status=400&error_code=content_policy_violation'],
      'all-fail': [d('a?status=500'), { provider: 'dead', model: 'x' }],
      'mid-break': ['b?tokens=10&reset_after=3'],
    },
  }));
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk-anything', maxRetries: 0, timeout: 20000 });
});

describe('chat.completions.create', () => {
  test('non-stream: content, usage, id, model', async () => {
    const c = await client.chat.completions.create({ model: 'gpt-sdk', messages });
    assert.equal(c.object, 'chat.completion');
    assert.match(c.id, /^chatcmpl-/);
    assert.equal(c.model, 'sdk-model', 'the upstream model that answered');
    assert.equal(c.choices.length, 1);
    assert.equal(c.choices[0].message.role, 'assistant');
    assert.equal(c.choices[0].message.content, expectedText(5));
    assert.equal(c.choices[0].finish_reason, 'stop');
    assert.equal(c.usage.completion_tokens, 5);
    assert.ok(c.usage.prompt_tokens > 0, `prompt_tokens ${c.usage.prompt_tokens}`);
    assert.equal(c.usage.total_tokens, c.usage.prompt_tokens + c.usage.completion_tokens);
  });

  test('stream: deltas add up to the answer, finish_reason stop, no usage chunk', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-sdk', messages, stream: true });
    let text = '';
    let finish = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.match(chunk.id, /^chatcmpl-/);
      assert.ok(!chunk.usage, 'no usage chunk when the client did not ask for one');
      for (const ch of chunk.choices) {
        text += ch.delta?.content ?? '';
        if (ch.finish_reason) finish = ch.finish_reason;
      }
    }
    assert.equal(text, expectedText(5));
    assert.equal(finish, 'stop');
    assert.ok(chunks >= 6, `one chunk per token plus the finish chunk, got ${chunks}`);
  });

  test('stream with stream_options.include_usage: exactly one usage chunk, with empty choices', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-sdk', messages, stream: true, stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const withUsage = chunks.filter((c) => c.usage);
    assert.equal(withUsage.length, 1, 'one chunk carries usage');
    assert.deepEqual(withUsage[0].choices, []);
    assert.equal(withUsage[0].usage.completion_tokens, 5);
    assert.equal(withUsage[0].usage.total_tokens,
      withUsage[0].usage.prompt_tokens + withUsage[0].usage.completion_tokens);
    assert.equal(chunks.at(-1), withUsage[0], 'the usage chunk is the last one');
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), expectedText(5));
  });

  test('the SDK stream helper assembles the final completion', async () => {
    const runner = client.chat.completions.stream({ model: 'gpt-sdk', messages });
    const final = await runner.finalChatCompletion();
    assert.equal(final.choices[0].message.content, expectedText(5));
    assert.equal(final.choices[0].finish_reason, 'stop');
  });
});

describe('tool calls', () => {
  test('round trip: tool_calls, then the tool result gets a text answer', async () => {
    const first = await client.chat.completions.create({ model: 'tools', messages, tools: [weatherTool] });
    const msg = first.choices[0].message;
    assert.equal(first.choices[0].finish_reason, 'tool_calls');
    assert.equal(msg.tool_calls.length, 1);
    const call = msg.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    assert.ok(call.id, 'the call has an id to answer');

    await mock.reset();
    const second = await client.chat.completions.create({
      model: 'tools',
      tools: [weatherTool],
      messages: [...messages, msg, { role: 'tool', tool_call_id: call.id, content: '{"temp_c":21}' }],
    });
    assert.equal(second.choices[0].finish_reason, 'stop');
    assert.equal(second.choices[0].message.content, expectedText(4));
    assert.ok(!second.choices[0].message.tool_calls?.length, 'no further tool call');

    // The assistant tool call and the tool result reached the upstream as the SDK sent them.
    const [seen] = await mock.requests();
    const sent = JSON.parse(seen.body).messages;
    assert.equal(sent.length, 3);
    assert.equal(sent[1].tool_calls[0].id, call.id);
    assert.equal(sent[2].role, 'tool');
    assert.equal(sent[2].tool_call_id, call.id);
  });

  test('streamed tool call deltas assemble into one call', async () => {
    const runner = client.chat.completions.stream({ model: 'tools', messages, tools: [weatherTool] });
    const final = await runner.finalChatCompletion();
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    const calls = final.choices[0].message.tool_calls;
    assert.equal(calls.length, 1);
    assert.equal(calls[0].function.name, 'get_weather');
    assert.deepEqual(JSON.parse(calls[0].function.arguments), { city: 'Paris' });
  });
});

// Runs `fn`, which must reject, and returns the error.
async function caught(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected an error');
}

describe('errors are typed SDK errors', () => {
  test('upstream 400 content_policy_violation → BadRequestError with the code', async () => {
    const e = await caught(() => client.chat.completions.create({ model: 'policy', messages }));
    assert.ok(e instanceof OpenAI.APIError, `${e}`);
    assert.ok(e instanceof OpenAI.BadRequestError, e.constructor.name);
    assert.equal(e.status, 400);
    assert.equal(e.code, 'content_policy_violation');
    assert.equal(typeof e.error.message, 'string');
  });

  test('unknown model → NotFoundError (404, model_not_found)', async () => {
    const e = await caught(() => client.chat.completions.create({ model: 'no-such-model', messages }));
    assert.ok(e instanceof OpenAI.NotFoundError, e.constructor.name);
    assert.equal(e.status, 404);
    assert.equal(e.code, 'model_not_found');
    assert.equal(e.param, 'model');
  });

  test('every deployment fails → 502 InternalServerError', async () => {
    const e = await caught(() => client.chat.completions.create({ model: 'all-fail', messages }));
    assert.ok(e instanceof OpenAI.APIError, `${e}`);
    assert.ok(e instanceof OpenAI.InternalServerError, e.constructor.name);
    assert.equal(e.status, 502);
    assert.equal(e.type, 'upstream_error');
    // Two deployments, three attempts (routing.retry.max_attempts defaults to 3).
    assert.equal(e.headers.get('x-switchyard-attempts'), '3');
  });

  test('stream broken mid-way: iterating throws an APIError, not a silent end', async () => {
    // Rescue off: what the SDK sees when a stream cannot be finished (rescue: dialects.test.mjs).
    const stream = await client.chat.completions.create(
      { model: 'mid-break', messages, stream: true }, { headers: { 'x-switchyard-rescue': 'off' } });
    let text = '';
    const e = await caught(async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    });
    assert.ok(e instanceof OpenAI.APIError, `expected APIError, got ${e}`);
    assert.equal(e.code, 'upstream_reset');
    assert.equal(typeof e.message, 'string');
    assert.equal(text, expectedText(3), 'the part streamed before the break');
  });
});

describe('raw responses', () => {
  test('withResponse() exposes x-switchyard-request-id', async () => {
    const { data, response } = await client.chat.completions.create({ model: 'gpt-sdk', messages }).withResponse();
    assert.equal(data.choices[0].message.content, expectedText(5));
    assert.equal(response.status, 200);
    assert.match(response.headers.get('x-switchyard-request-id'), /^req_[0-9a-f]{32}$/);
    assert.equal(response.headers.get('x-switchyard-deployment'), 'mock/sdk-model?tokens=5');
  });

  test('asResponse() on a stream exposes the headers; a client x-request-id is kept', async () => {
    const response = await client.chat.completions
      .create({ model: 'gpt-sdk', messages, stream: true }, { headers: { 'x-request-id': 'sdk-corr-7' } })
      .asResponse();
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type'), /^text\/event-stream/);
    assert.equal(response.headers.get('x-switchyard-request-id'), 'sdk-corr-7');
    assert.ok((await response.text()).includes('data: [DONE]'));
  });
});
