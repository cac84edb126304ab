import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { type FakeMessage, type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { requestJson, startTestServer, type TestServer, waitFor } from '../support/server.js';
import { ADMIN_KEY, jsonInit, tenantWithKey, uploadAs, waitKbReady as ready, withAuth } from './auth-support.js';
import { startWithEnv } from './query-support.js';

/*
 * The OpenAI-compatible surface, driven by the official `openai` client: ragd must look like an
 * OpenAI server to it (models, completions, streams, errors), while answering from the caller's
 * own knowledge bases through the stand-in model server.
 */

interface Source {
  n: number;
  document_name: string;
  chunk_id: string;
  text: string;
}
type Cited = { citations: Source[]; answer_kind: string };

const FOLLOW_UP = 'How tall?';
const STANDALONE = 'How tall is Mount Kilimanjaro?';

/** The stand-in model: rewrites follow-ups about Kilimanjaro, otherwise answers citing [1]. */
function fakeAnswer(messages: FakeMessage[]): string {
  if (messages[0]?.content.startsWith('Rewrite the last question')) {
    const prompt = messages[1]?.content ?? '';
    return prompt.includes('Kilimanjaro') ? `"${STANDALONE}"` : prompt.slice(prompt.lastIndexOf('Last question: ') + 15);
  }
  const question = messages[messages.length - 1]!.content.split('\n\nQuestion: ').pop() ?? '';
  if (/[\u4e00-\u9fff]/.test(question)) return `根据资料，答案见 [1]。`;
  return `Answer to "${question}" from the sources [1].`;
}

describe('OpenAI-compatible chat API', () => {
  let fake: FakeOpenAI;
  let server: TestServer;
  let acme: OpenAI;
  let globex: OpenAI;

  before(async () => {
    fake = await startFakeOpenAI({ answer: fakeAnswer });
    server = await startWithEnv({ RAGD_ADMIN_KEY: ADMIN_KEY, RAGD_LLM_BASE_URL: fake.url, RAGD_LLM_MODEL: 'fake-chat', RAGD_LLM_MAX_RETRIES: '0' });
    const url = server.url;
    const acmeKey = await tenantWithKey(url, 'acme');
    const globexKey = await tenantWithKey(url, 'globex');
    await requestJson(`${url}/v1/kbs`, withAuth(acmeKey, jsonInit('POST', { id: 'facts' })));
    await requestJson(`${url}/v1/kbs`, withAuth(acmeKey, jsonInit('POST', { id: 'handbook', name: '员工手册' })));
    await requestJson(`${url}/v1/kbs`, withAuth(globexKey, jsonInit('POST', { id: 'secret' })));
    await uploadAs(url, acmeKey, 'facts', 'volcano.txt', 'Mount Kilimanjaro is a dormant volcano in Tanzania. Uhuru Peak rises 5,895 metres above sea level.');
    await uploadAs(url, acmeKey, 'facts', 'otters.txt', 'Sea otters hold hands while sleeping so that they do not drift apart.');
    await uploadAs(url, acmeKey, 'handbook', '年假.md', '# 休假制度\n\n员工每年享有十五天带薪年假。病假需要提供医院证明。');
    await uploadAs(url, globexKey, 'secret', 'plans.txt', 'The globex launch code is 0000.');
    await Promise.all([ready(url, acmeKey, 'facts'), ready(url, acmeKey, 'handbook'), ready(url, globexKey, 'secret')]);
    acme = new OpenAI({ baseURL: `${url}/v1`, apiKey: acmeKey, maxRetries: 0 });
    globex = new OpenAI({ baseURL: `${url}/v1`, apiKey: globexKey, maxRetries: 0 });
  });

  after(async () => {
    await server?.close();
    await fake?.close();
  });

  it('lists the caller\'s knowledge bases as models, with mode variants, and no one else\'s', async () => {
    const ids = [];
    for await (const m of acme.models.list()) ids.push(m.id);
    assert.ok(ids.includes('facts') && ids.includes('facts:lexical') && ids.includes('handbook') && ids.includes('default'), ids.join());
    assert.ok(!ids.some((id) => id.startsWith('secret')), 'another tenant\'s KB is not listed');
    const theirs = [];
    for await (const m of globex.models.list()) theirs.push(m.id);
    assert.ok(theirs.includes('secret') && !theirs.some((id) => id.startsWith('facts')));
  });

  it('answers a completion with [n] citations and a machine-readable citations list; unknown fields are ignored', async () => {
    const res = await acme.chat.completions.create({
      model: 'facts',
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'Where is Mount Kilimanjaro?' },
      ],
      temperature: 0.2,
      frequency_penalty: 0.5,
      user: 'someone',
      // @ts-expect-error: a field no OpenAI server knows; clients send such things
      ragd_unknown_field: { anything: true },
    });
    assert.equal(res.object, 'chat.completion');
    assert.equal(res.model, 'facts');
    const content = res.choices[0]!.message.content ?? '';
    assert.match(content, /\[1\]/);
    const { citations, answer_kind } = res as unknown as Cited;
    assert.equal(answer_kind, 'llm');
    assert.equal(citations[0]!.n, 1);
    assert.equal(citations[0]!.document_name, 'volcano.txt');
    // The model got ragd's sources, not the client's system prompt.
    const sent = fake.stats.bodies.at(-1)!.body as { messages: FakeMessage[] };
    assert.ok(!sent.messages.some((m) => m.content.includes('helpful assistant')));
    assert.match(sent.messages.at(-1)!.content, /Uhuru Peak/);
  });

  it('streams chat.completion.chunk events read by the client\'s own iterator, citations on the last chunk', async () => {
    const stream = await acme.chat.completions.create({ model: 'facts:lexical', stream: true, messages: [{ role: 'user', content: 'Do sea otters hold hands?' }] });
    let text = '';
    let last: unknown;
    let chunks = 0;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      text += chunk.choices[0]?.delta?.content ?? '';
      last = chunk;
      chunks++;
    }
    assert.ok(chunks > 3, `one chunk per piece of text (${chunks})`);
    assert.equal(text, 'Answer to "Do sea otters hold hands?" from the sources [1].');
    const final = last as Cited & { choices: { finish_reason: string }[] };
    assert.equal(final.choices[0]!.finish_reason, 'stop');
    assert.equal(final.citations[0]!.document_name, 'otters.txt');
  });

  it('rewrites a follow-up question with the history, and passes the history to the model', async () => {
    // Alone, the follow-up finds nothing: none of its words is in the KB.
    const alone = await acme.chat.completions.create({ model: 'facts:lexical', messages: [{ role: 'user', content: FOLLOW_UP }] });
    assert.equal((alone as unknown as Cited).citations.length, 0);

    fake.resetStats();
    const history = [
      { role: 'user' as const, content: 'Tell me about Mount Kilimanjaro.' },
      { role: 'assistant' as const, content: 'It is a dormant volcano in Tanzania [1].' },
    ];
    const res = await acme.chat.completions.create({ model: 'facts:lexical', messages: [...history, { role: 'user', content: FOLLOW_UP }] });
    assert.equal((res as unknown as Cited).citations[0]?.document_name, 'volcano.txt', 'retrieval used the standalone question');

    const [rewrite, answer] = fake.stats.bodies.map((b) => (b.body as { messages: FakeMessage[] }).messages);
    assert.equal(fake.stats.requests.chat, 2, 'one rewrite call and one answer call, both in the LLM lane');
    assert.match(rewrite![1]!.content, /Tell me about Mount Kilimanjaro\.[\s\S]*Last question: How tall\?/);
    // The answer prompt: instructions, the earlier turns (old [n] markers removed), then the sourced question.
    assert.deepEqual(answer!.slice(1, 3), [history[0], { role: 'assistant', content: 'It is a dormant volcano in Tanzania.' }]);
    const prompt = answer!.at(-1)!.content;
    assert.match(prompt, /Uhuru Peak/);
    assert.ok(prompt.endsWith(`Question: ${STANDALONE}`), prompt);
  });

  it('carries Chinese through: a KB named in Chinese, a Chinese question, a Chinese answer', async () => {
    const stream = await acme.chat.completions.create({ model: '员工手册', stream: true, messages: [{ role: 'user', content: '年假有几天？' }] });
    let text = '';
    let last: Cited | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      last = chunk as unknown as Cited;
    }
    assert.equal(text, '根据资料，答案见 [1]。');
    assert.equal(last!.citations[0]!.document_name, '年假.md');
    assert.match(last!.citations[0]!.text, /十五天带薪年假/);
  });

  it('aborts the model call when the client disconnects mid-stream', async () => {
    fake.setBehavior({ tokenDelayMs: 100 });
    try {
      const abortedBefore = fake.stats.abortedByRoute.chat;
      const controller = new AbortController();
      const stream = await acme.chat.completions.create(
        { model: 'facts', stream: true, messages: [{ role: 'user', content: 'Tell me everything about sea otters and their fur, at length.' }] },
        { signal: controller.signal },
      );
      let pieces = 0;
      // The client's iterator ends quietly when its own signal aborts it.
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta?.content) pieces++;
        if (pieces === 2) controller.abort();
      }
      assert.equal(pieces, 2);
      await waitFor(() => fake.stats.abortedByRoute.chat > abortedBefore, { what: 'the stand-in model to see the abort', timeoutMs: 10_000 });
    } finally {
      fake.setBehavior({ tokenDelayMs: 0 });
    }
  });

  it('answers an unknown or foreign KB with 404 in OpenAI\'s error shape', async () => {
    for (const [client, model] of [
      [acme, 'no-such-kb'],
      [acme, 'secret'],
      [globex, 'facts'],
      [globex, '员工手册'],
    ] as const) {
      const err = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hello' }] }).catch((e: unknown) => e);
      assert.ok(err instanceof OpenAI.NotFoundError, `${model}: ${String(err)}`);
      assert.equal(err.code, 'model_not_found');
      assert.equal(err.type, 'not_found_error');
      assert.match(err.message, new RegExp(model));
    }
  });

  it('refuses n > 1, tools and images with a 400 in OpenAI\'s error shape', async () => {
    const user = { role: 'user' as const, content: 'Where is Kilimanjaro?' };
    const attempts = [
      acme.chat.completions.create({ model: 'facts', n: 2, messages: [user] }),
      acme.chat.completions.create({ model: 'facts', messages: [user], tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }),
      acme.chat.completions.create({
        model: 'facts',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AA==' } }] }],
      }),
    ];
    for (const attempt of attempts) {
      const err = await attempt.catch((e: unknown) => e);
      assert.ok(err instanceof OpenAI.BadRequestError, String(err));
      assert.equal(err.code, 'unsupported_parameter');
      assert.equal(err.type, 'invalid_request_error');
    }
    // A malformed body is refused in the same shape.
    const res = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${acme.apiKey}`, 'content-type': 'application/json' }, body: '{"model":"facts"}' });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { message: string; type: string; code: string } };
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, /messages/);
  });

  it('refuses a missing or wrong key with 401 in OpenAI\'s error shape', async () => {
    const stranger = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'ragd_not-a-real-key', maxRetries: 0 });
    const err = await stranger.models.list().catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
    assert.equal(err.type, 'authentication_error');
  });
});

describe('OpenAI-compatible chat API without a language model', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
    await requestJson(`${server.url}/v1/kbs/default/documents`, jsonInit('POST', { name: 'otters.txt', text: 'Sea otters hold hands while sleeping so that they do not drift apart.' }));
    await ready(server.url, '', 'default');
  });
  after(() => server?.close());

  it('answers extractively and says so', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const res = await client.chat.completions.create({
      model: 'default',
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello!' },
        { role: 'user', content: 'Why do sea otters hold hands?' },
      ],
    });
    assert.match(res.choices[0]!.message.content ?? '', /^Extractive answer \(no language model configured\):.*\[1\]/);
    assert.equal((res as unknown as Cited).answer_kind, 'extractive');
  });
});
