import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderRequestError, ProviderTimeoutError, ProviderUnavailableError } from '../../src/ports/models.js';
import { HttpReranker } from '../../src/providers/http-reranker.js';
import { CircuitOpenError, type LaneOptions, ProviderLane, isAbortError } from '../../src/providers/lane.js';
import { OpenAIChatGenerator } from '../../src/providers/openai-chat.js';
import { EmbeddingDimensionError, OpenAIEmbedder } from '../../src/providers/openai-embedder.js';
import { type FakeBehavior, type FakeOpenAI, fakeEmbedding, startFakeOpenAI } from '../support/fake-openai.js';

/* These tests talk to the fake server over real HTTP, through the real openai SDK and fetch. */

async function fake(t: TestContext, behavior: Partial<FakeBehavior> = {}): Promise<FakeOpenAI> {
  const server = await startFakeOpenAI(behavior);
  t.after(() => server.close());
  return server;
}

function lane(t: TestContext, overrides: Partial<LaneOptions> = {}): ProviderLane {
  const l = new ProviderLane({
    name: 'fake',
    concurrency: 4,
    requestsPerMinute: 10_000,
    timeoutMs: 5_000,
    maxRetries: 3,
    backoffBaseMs: 10,
    breaker: { errorThresholdPercentage: 50, volumeThreshold: 1_000, resetTimeoutMs: 300 },
    ...overrides,
  });
  t.after(() => l.close());
  return l;
}

async function until(cond: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await sleep(5);
  }
}

const question = [{ role: 'user' as const, content: 'What is the airspeed velocity of an unladen swallow?' }];

describe('OpenAIChatGenerator against the fake server', () => {
  it('answers without streaming', async (t) => {
    const server = await fake(t, { answer: 'Roughly eleven metres per second.' });
    const chat = new OpenAIChatGenerator({ baseURL: server.url, model: 'fake-chat', lane: lane(t) });
    const res = await chat.generate({ messages: question });
    assert.equal(res.text, 'Roughly eleven metres per second.');
    assert.equal(res.model, 'fake-chat');
    assert.ok(res.usage && res.usage.completion_tokens > 0 && res.usage.prompt_tokens > 0);
    assert.equal(chat.kind, 'llm');
  });

  it('streams tokens to onToken and returns the whole answer with usage', async (t) => {
    const server = await fake(t, { answer: 'African or European swallow?', tokenDelayMs: 2 });
    const chat = new OpenAIChatGenerator({ baseURL: server.url, model: 'fake-chat', lane: lane(t) });
    const tokens: string[] = [];
    const res = await chat.generate({ messages: question, onToken: (tok) => tokens.push(tok) });
    assert.ok(tokens.length >= 4);
    assert.equal(tokens.join(''), 'African or European swallow?');
    assert.equal(res.text, 'African or European swallow?');
    assert.equal(res.usage?.completion_tokens, 4);
    const body = server.stats.bodies[0]?.body as { stream?: boolean; stream_options?: unknown };
    assert.equal(body.stream, true);
    assert.deepEqual(body.stream_options, { include_usage: true });
  });

  it('retries a 429 after its Retry-After, then succeeds', async (t) => {
    const server = await fake(t, { failNext: { status: 429, count: 1, retryAfterSec: 1 } });
    const chat = new OpenAIChatGenerator({ baseURL: server.url, model: 'm', lane: lane(t) });
    const started = Date.now();
    const res = await chat.generate({ messages: question });
    const elapsed = Date.now() - started;
    assert.match(res.text, /fake answer/);
    assert.equal(server.stats.requests.chat, 2);
    assert.ok(elapsed >= 950 && elapsed < 5_000, `took ${elapsed} ms`);
  });

  it('does not retry a 400', async (t) => {
    const server = await fake(t, { failNext: { status: 400, count: 5 } });
    const chat = new OpenAIChatGenerator({ baseURL: server.url, model: 'm', lane: lane(t) });
    await assert.rejects(chat.generate({ messages: question }), (err: unknown) => {
      assert.ok(err instanceof ProviderRequestError);
      assert.equal(err.upstreamStatus, 400);
      return true;
    });
    assert.equal(server.stats.requests.chat, 1);
  });

  it('retries a stream that fails before its first token', async (t) => {
    const server = await fake(t, { answer: 'one two three', chat: { failNext: { status: 503, count: 1 } } });
    const chat = new OpenAIChatGenerator({ baseURL: server.url, model: 'm', lane: lane(t) });
    const tokens: string[] = [];
    const res = await chat.generate({ messages: question, onToken: (tok) => tokens.push(tok) });
    assert.equal(res.text, 'one two three');
    assert.equal(tokens.join(''), 'one two three', 'no token may be emitted twice');
    assert.equal(server.stats.requests.chat, 2);
  });

  it('does not retry a stream that breaks after tokens were emitted', async (t) => {
    const server = await fake(t, { answer: 'one two three four five', breakStreamNext: { afterTokens: 2, count: 1 } });
    const chat = new OpenAIChatGenerator({ baseURL: server.url, model: 'm', lane: lane(t) });
    const tokens: string[] = [];
    await assert.rejects(chat.generate({ messages: question, onToken: (tok) => tokens.push(tok) }), ProviderUnavailableError);
    assert.deepEqual(tokens, ['one', ' two']);
    assert.equal(server.stats.requests.chat, 1);
  });

  it('aborts the upstream request at once when the caller aborts mid-stream', async (t) => {
    const server = await fake(t, { answer: 'word '.repeat(500), tokenDelayMs: 20 });
    const chat = new OpenAIChatGenerator({ baseURL: server.url, model: 'm', lane: lane(t) });
    const caller = new AbortController();
    let tokens = 0;
    const started = Date.now();
    await assert.rejects(
      chat.generate({
        messages: question,
        signal: caller.signal,
        onToken: () => {
          if (++tokens === 3) caller.abort();
        },
      }),
      (err: unknown) => isAbortError(err),
    );
    assert.ok(Date.now() - started < 2_000);
    await until(() => server.stats.aborted === 1, 1_000);
    assert.equal(server.stats.abortedByRoute.chat, 1);
    assert.equal(tokens, 3, 'no token may reach the caller after it aborted');
  });

  it('lets a steady stream run longer than the timeout: the timeout guards silence', async (t) => {
    const server = await fake(t, { answer: 'a b c d e f g h i j', tokenDelayMs: 40 });
    const chat = new OpenAIChatGenerator({ baseURL: server.url, model: 'm', lane: lane(t, { timeoutMs: 200 }) });
    const started = Date.now();
    const res = await chat.generate({ messages: question, onToken: () => undefined });
    assert.equal(res.text, 'a b c d e f g h i j');
    assert.ok(Date.now() - started >= 300, 'the stream outlived timeoutMs');
  });

  it('times out a slow provider with ProviderTimeoutError and drops the request', async (t) => {
    const server = await fake(t, { latencyMs: 1_000 });
    const chat = new OpenAIChatGenerator({ baseURL: server.url, model: 'm', lane: lane(t, { timeoutMs: 100 }) });
    const started = Date.now();
    await assert.rejects(chat.generate({ messages: question }), ProviderTimeoutError);
    assert.ok(Date.now() - started < 900);
    await until(() => server.stats.aborted === 1, 1_000);
  });

  it('reports a refused connection as ProviderUnavailableError after retrying', async (t) => {
    const server = await startFakeOpenAI();
    await server.close();
    const l = lane(t, { maxRetries: 2 });
    const chat = new OpenAIChatGenerator({ baseURL: server.url, model: 'm', lane: l });
    await assert.rejects(chat.generate({ messages: question }), ProviderUnavailableError);
    assert.equal(l.stats().attempts, 3);
  });
});

describe('ProviderLane against the fake server', () => {
  it('opens the breaker on repeated 503s, stops calling the server, and closes once it recovers', async (t) => {
    const server = await fake(t, { down: true });
    const l = lane(t, { maxRetries: 0, breaker: { errorThresholdPercentage: 50, volumeThreshold: 4, resetTimeoutMs: 300 } });
    const chat = new OpenAIChatGenerator({ baseURL: server.url, model: 'm', lane: l });

    for (let i = 0; i < 4; i++) await assert.rejects(chat.generate({ messages: question }), ProviderUnavailableError);
    assert.equal(l.stats().breaker, 'open');
    const seen = server.stats.requests.chat;
    assert.equal(seen, 4);

    for (let i = 0; i < 10; i++) await assert.rejects(chat.generate({ messages: question }), CircuitOpenError);
    assert.equal(server.stats.requests.chat, seen, 'an open breaker must not reach the server');

    server.setBehavior({ down: false });
    await until(() => l.stats().breaker === 'half_open', 2_000);
    const res = await chat.generate({ messages: question });
    assert.match(res.text, /fake answer/);
    assert.equal(l.stats().breaker, 'closed');
    assert.equal(server.stats.requests.chat, seen + 1);
  });

  it('keeps the server at or below the lane concurrency with 20 parallel calls', async (t) => {
    const server = await fake(t, { latencyMs: 20 });
    const l = lane(t, { concurrency: 3 });
    const embedder = new OpenAIEmbedder({ baseURL: server.url, model: 'e', dim: 384, lane: l });
    await Promise.all(Array.from({ length: 20 }, (_, i) => embedder.embed([`text ${i}`], { priority: 'bulk' })));
    assert.equal(server.stats.requests.embeddings, 20);
    assert.ok(server.stats.maxConcurrent.embeddings <= 3, `saw ${server.stats.maxConcurrent.embeddings}`);
    assert.equal(server.stats.maxConcurrent.embeddings, 3);
  });

  it('sends a queued interactive call before queued bulk calls', async (t) => {
    const server = await fake(t, { latencyMs: 30 });
    const l = lane(t, { concurrency: 1 });
    const embedder = new OpenAIEmbedder({ baseURL: server.url, model: 'e', dim: 384, lane: l });
    const chat = new OpenAIChatGenerator({ baseURL: server.url, model: 'm', lane: l });

    const bulk = Array.from({ length: 5 }, (_, i) => embedder.embed([`bulk ${i}`], { priority: 'bulk' }));
    await until(() => l.stats().inFlight === 1 && l.stats().queued === 4);
    const interactive = chat.generate({ messages: question });
    await Promise.all([...bulk, interactive]);

    const routes = server.stats.bodies.map((b) => b.route);
    assert.deepEqual(routes, ['embeddings', 'chat', 'embeddings', 'embeddings', 'embeddings', 'embeddings']);
  });

  it('removes a call aborted while queued: it never reaches the server', async (t) => {
    const server = await fake(t, { latencyMs: 800 });
    const l = lane(t, { concurrency: 1 });
    const embedder = new OpenAIEmbedder({ baseURL: server.url, model: 'e', dim: 384, lane: l });
    const chat = new OpenAIChatGenerator({ baseURL: server.url, model: 'm', lane: l });

    const busy = embedder.embed(['occupies the only slot'], { priority: 'bulk' });
    await until(() => l.stats().inFlight === 1);
    const caller = new AbortController();
    const queued = chat.generate({ messages: question, signal: caller.signal });
    await until(() => l.stats().queued === 1);

    const started = Date.now();
    caller.abort();
    await assert.rejects(queued, (err: unknown) => isAbortError(err));
    assert.ok(Date.now() - started < 400, 'a queued call must reject at once, not when the slot frees');
    assert.equal(l.stats().queued, 0);

    await busy;
    await sleep(50);
    assert.equal(server.stats.requests.chat, 0);
    assert.equal(server.stats.requests.embeddings, 1);
  });
});

describe('OpenAIEmbedder against the fake server', () => {
  const texts = Array.from({ length: 10 }, (_, i) => `document number ${i} about ${i % 2 ? 'cats' : 'dogs'}`);

  it('batches by count and returns vectors in input order', async (t) => {
    const server = await fake(t, { latencyMs: 5 });
    const embedder = new OpenAIEmbedder({ baseURL: server.url, model: 'e', dim: 384, lane: lane(t), batchSize: 4 });
    assert.equal(embedder.id, `openai:${server.url}#e:384`);
    assert.equal(embedder.dim, 384);
    const vectors = await embedder.embed(texts, { priority: 'bulk' });
    assert.equal(server.stats.requests.embeddings, 3);
    assert.deepEqual(
      server.stats.bodies.map((b) => (b.body as { input: string[] }).input.length).sort(),
      [2, 4, 4],
    );
    assert.equal(vectors.length, texts.length);
    vectors.forEach((v, i) => assert.deepEqual(v, fakeEmbedding(texts[i]!, 384)));
  });

  it('batches by the estimated token budget', async (t) => {
    const server = await fake(t);
    const long = Array.from({ length: 6 }, (_, i) => `${i} `.padEnd(200, 'x')); // ~50 tokens each
    const embedder = new OpenAIEmbedder({ baseURL: server.url, model: 'e', dim: 64, lane: lane(t), maxBatchTokens: 100 });
    server.setBehavior({ embedDim: 64 });
    const vectors = await embedder.embed(long, { priority: 'bulk' });
    assert.equal(server.stats.requests.embeddings, 3);
    vectors.forEach((v, i) => assert.deepEqual(v, fakeEmbedding(long[i]!, 64)));
  });

  it('decodes base64 embeddings', async (t) => {
    const server = await fake(t, { embedDim: 32 });
    const embedder = new OpenAIEmbedder({ baseURL: server.url, model: 'e', dim: 32, lane: lane(t), encodingFormat: 'base64' });
    const [v] = await embedder.embed(['hello world'], { priority: 'interactive' });
    assert.equal((server.stats.bodies[0]?.body as { encoding_format: string }).encoding_format, 'base64');
    assert.deepEqual(v, fakeEmbedding('hello world', 32));
  });

  it('asks for base64 by default, and for floats from then on when a server refuses base64', async (t) => {
    const server = await fake(t, { embedDim: 32, refuseBase64: true });
    const embedder = new OpenAIEmbedder({ baseURL: server.url, model: 'e', dim: 32, lane: lane(t) });
    const [v] = await embedder.embed(['hello world'], { priority: 'interactive' });
    const [w] = await embedder.embed(['goodbye'], { priority: 'interactive' });
    const formats = server.stats.bodies.map((b) => (b.body as { encoding_format?: string }).encoding_format);
    assert.deepEqual(formats, ['base64', 'float', 'float']);
    assert.deepEqual(v, fakeEmbedding('hello world', 32));
    assert.deepEqual(w, fakeEmbedding('goodbye', 32));
  });

  it('fails clearly when the endpoint dimension differs from the configured one', async (t) => {
    const server = await fake(t, { embedDim: 8 });
    const embedder = new OpenAIEmbedder({ baseURL: server.url, model: 'e', dim: 16, lane: lane(t) });
    await assert.rejects(embedder.embed(['a', 'b'], { priority: 'bulk' }), (err: unknown) => {
      assert.ok(err instanceof EmbeddingDimensionError);
      assert.equal(err.expected, 16);
      assert.equal(err.actual, 8);
      assert.match(err.message, /returned 8-dimensional vectors but 16 is configured/);
      return true;
    });
    assert.equal(server.stats.requests.embeddings, 1, 'a dimension mismatch is not retried');
  });

  it('returns nothing for no input without calling the server', async (t) => {
    const server = await fake(t);
    const embedder = new OpenAIEmbedder({ baseURL: server.url, model: 'e', dim: 384, lane: lane(t) });
    assert.deepEqual(await embedder.embed([], { priority: 'bulk' }), []);
    assert.equal(server.stats.requests.embeddings, 0);
  });
});

describe('HttpReranker against the fake server', () => {
  const docs = ['the cat sat on the mat', 'dogs bark loudly', 'a cat and a dog', 'nothing relevant here'];

  it('reads the Cohere/Jina shape', async (t) => {
    const server = await fake(t);
    const reranker = new HttpReranker({ baseURL: server.url, model: 'r', lane: lane(t) });
    const hits = await reranker.rerank('cat mat', docs, { topN: 2 });
    assert.deepEqual(hits, [
      { index: 0, score: 1 },
      { index: 2, score: 0.5 },
    ]);
    assert.deepEqual(server.stats.bodies[0]?.body, { model: 'r', query: 'cat mat', documents: docs, top_n: 2 });
  });

  it('reads the TEI shape and cuts it to topN', async (t) => {
    const server = await fake(t, { rerankShape: 'tei' });
    const reranker = new HttpReranker({ baseURL: server.url, model: 'r', lane: lane(t) });
    const hits = await reranker.rerank('cat dog', docs, { topN: 2 });
    assert.deepEqual(hits, [
      { index: 2, score: 1 },
      { index: 0, score: 0.5 },
    ]);
  });

  it('times out only rerank when only rerank is slow', async (t) => {
    const server = await fake(t, { rerank: { latencyMs: 1_000 } });
    const l = lane(t, { timeoutMs: 150 });
    const reranker = new HttpReranker({ baseURL: server.url, model: 'r', lane: l });
    const embedder = new OpenAIEmbedder({ baseURL: server.url, model: 'e', dim: 384, lane: l });
    await assert.rejects(reranker.rerank('cat', docs, { topN: 1 }), ProviderTimeoutError);
    assert.equal((await embedder.embed(['still fast'], { priority: 'interactive' })).length, 1);
    await until(() => server.stats.abortedByRoute.rerank === 1, 1_000);
  });

  it('does not retry a 404 from a wrong base URL', async (t) => {
    const server = await fake(t);
    const reranker = new HttpReranker({ baseURL: `${server.url}/nope`, model: 'r', lane: lane(t) });
    await assert.rejects(reranker.rerank('cat', docs, { topN: 1 }), (err: unknown) => {
      assert.ok(err instanceof ProviderRequestError);
      assert.equal(err.upstreamStatus, 404);
      return true;
    });
  });
});
