import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/domain/errors.js';
import { readQuestion, resolveModel } from '../../src/http/routes/openai/messages.js';
import type { ChatCompletionBody } from '../../src/http/routes/openai/schemas.js';
import { type AnswerGenerator, type GenerateInput, ProviderRequestError, ProviderUnavailableError } from '../../src/ports/models.js';
import type { KbRecord } from '../../src/ports/store.js';
import { AnswerStep } from '../../src/services/query/answer-step.js';
import { ExtractiveAnswerer } from '../../src/services/query/extractive-answerer.js';
import { answerKey, historyKey } from '../../src/services/query/answer-cache.js';
import { buildMessages, fitHistory } from '../../src/services/query/prompt.js';

const kb = (id: string, name = id): KbRecord => ({ tenantId: 't', id, name, embedder: 'hash:384', embedDim: 384, ocr: 'auto', version: 0, createdAt: '2026-01-01T00:00:00Z' });
const KBS = [kb('default'), kb('handbook', '员工手册'), kb('odd', 'notes:lexical')];

const body = (messages: ChatCompletionBody['messages'], extra: Record<string, unknown> = {}) => ({ model: 'default', messages, ...extra }) as ChatCompletionBody;
const refusal = (fn: () => unknown, status: number, code: string) =>
  assert.throws(fn, (err: unknown) => err instanceof AppError && err.status === status && err.code === code);

describe('resolveModel', () => {
  it('finds a KB by id or name, with an optional retrieval mode', () => {
    assert.deepEqual(resolveModel('default', KBS), { kb: KBS[0], mode: 'hybrid' });
    assert.deepEqual(resolveModel('default:lexical', KBS), { kb: KBS[0], mode: 'lexical' });
    assert.deepEqual(resolveModel('员工手册:vector', KBS), { kb: KBS[1], mode: 'vector' });
    // A name that itself ends in ":mode" is the KB, not a mode variant.
    assert.deepEqual(resolveModel('notes:lexical', KBS), { kb: KBS[2], mode: 'hybrid' });
  });

  it('refuses unknown KBs and unknown modes with model_not_found', () => {
    refusal(() => resolveModel('nope', KBS), 404, 'model_not_found');
    refusal(() => resolveModel('default:fuzzy', KBS), 404, 'model_not_found');
    refusal(() => resolveModel(':lexical', KBS), 404, 'model_not_found');
  });
});

describe('readQuestion', () => {
  it('takes the last user message as the question and the turns before it as history', () => {
    const q = readQuestion(
      body([
        { role: 'system', content: 'be nice' },
        { role: 'user', content: [{ type: 'text', text: '年假' }, { type: 'text', text: '有几天？' }] },
        { role: 'assistant', content: '十五天 [1][2]。' },
        { role: 'assistant', content: null },
        { role: 'user', content: '  病假呢？ ' },
      ]),
    );
    assert.equal(q.question, '病假呢？');
    assert.deepEqual(q.history, [
      { role: 'user', content: '年假\n有几天？' },
      { role: 'assistant', content: '十五天。' },
    ]);
  });

  it('refuses what ragd cannot honour', () => {
    const user = { role: 'user', content: 'hi' };
    refusal(() => readQuestion(body([user], { n: 2 })), 400, 'unsupported_parameter');
    refusal(() => readQuestion(body([user], { tools: [{ type: 'function' }] })), 400, 'unsupported_parameter');
    refusal(() => readQuestion(body([user], { functions: [{ name: 'f' }] })), 400, 'unsupported_parameter');
    refusal(() => readQuestion(body([{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }])), 400, 'unsupported_parameter');
    refusal(() => readQuestion(body([user, { role: 'tool', content: 'x' }])), 400, 'unsupported_parameter');
    refusal(() => readQuestion(body([user, { role: 'assistant', content: 'hello' }])), 400, 'invalid_request');
    refusal(() => readQuestion(body([{ role: 'user', content: '   ' }])), 400, 'invalid_request');
    refusal(() => readQuestion(body([{ role: 'robot', content: 'x' }])), 400, 'invalid_request');
    refusal(() => readQuestion(body([{ role: 'user', content: '问'.repeat(4001) }])), 400, 'query_too_long');
    // tools: [] and n: 1 are what many clients send by default.
    assert.equal(readQuestion(body([user], { tools: [], n: 1, tool_choice: 'none' })).question, 'hi');
  });
});

describe('history in prompts and cache keys', () => {
  const turns = [
    { role: 'user' as const, content: 'a'.repeat(100) },
    { role: 'assistant' as const, content: '答'.repeat(10) },
    { role: 'user' as const, content: 'b'.repeat(20) },
  ];

  it('keeps the most recent whole turns that fit the budget', () => {
    assert.deepEqual(fitHistory(turns, 1000), turns);
    assert.deepEqual(fitHistory(turns, 60), turns.slice(1), 'a Chinese character is three bytes');
    assert.deepEqual(fitHistory(turns, 49), turns.slice(2));
    assert.deepEqual(fitHistory(turns, 5), []);
  });

  it('puts the history between the instructions and the sourced question', async () => {
    const messages = await buildMessages('q?', [{ document_name: 'd', page: null, text: 'src' }], 8000, turns);
    assert.deepEqual(messages.map((m) => m.role), ['system', 'user', 'assistant', 'user', 'user']);
    assert.match(messages.at(-1)!.content, /\[1\] \(d\)\nsrc\n\nQuestion: q\?$/);
  });

  it('gives the same question a different cache key after a different conversation', () => {
    const parts = { tenantId: 't', kbId: 'k', kbVersion: 1, kbCreatedAt: 'c', embedder: 'e', query: 'And then?', mode: 'hybrid' as const, topK: 5, onlyContext: false, answerer: 'llm', reranker: null };
    const a = answerKey({ ...parts, history: historyKey([{ role: 'user', content: 'About volcanoes' }]) });
    const b = answerKey({ ...parts, history: historyKey([{ role: 'user', content: 'About otters' }]) });
    assert.notEqual(a, b);
    assert.equal(a, answerKey({ ...parts, history: historyKey([{ role: 'user', content: 'ABOUT  volcanoes' }]) }), 'normalised as questions are');
    assert.notEqual(a, answerKey(parts));
  });
});

describe('follow-up rewriting', () => {
  const history = [{ role: 'user' as const, content: 'Tell me about Kilimanjaro.' }];
  function stepAnswering(reply: () => string): { step: AnswerStep; calls: GenerateInput[] } {
    const calls: GenerateInput[] = [];
    const llm: AnswerGenerator = {
      kind: 'llm',
      generate: async (input) => {
        calls.push(input);
        return { text: reply(), model: 'm' };
      },
    };
    const extractive = new ExtractiveAnswerer({ extractAnswer: async () => ({ sentences: [] }) });
    return { step: new AnswerStep(llm, extractive, { fallbackToExtractive: false, promptTokens: 8000 }, undefined), calls };
  }

  it('asks the model once, with the conversation, and takes its first line without quotes or label', async () => {
    const { step, calls } = stepAnswering(() => '\nStandalone question: “How tall is Kilimanjaro?”\nextra');
    assert.equal(await step.rewrite('How tall?', history), 'How tall is Kilimanjaro?');
    assert.equal(calls.length, 1);
    assert.match(calls[0]!.messages[1]!.content, /User: Tell me about Kilimanjaro\.\n\nLast question: How tall\?$/);
  });

  it('keeps the question as asked without history, on an empty reply, or when the model is out', async () => {
    const none = stepAnswering(() => 'x');
    assert.equal(await none.step.rewrite('How tall?', []), 'How tall?');
    assert.equal(none.calls.length, 0);
    assert.equal(await stepAnswering(() => '  \n ').step.rewrite('How tall?', history), 'How tall?');
    const out = stepAnswering(() => {
      throw new ProviderUnavailableError('llm', 'circuit open');
    });
    assert.equal(await out.step.rewrite('How tall?', history), 'How tall?');
    // A refusal that retrying cannot fix (wrong key, unknown model) is not hidden.
    const refused = stepAnswering(() => {
      throw new ProviderRequestError('llm', 401, 'bad key');
    });
    await assert.rejects(refused.step.rewrite('How tall?', history), ProviderRequestError);
  });
});
