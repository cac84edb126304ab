import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type FakeOpenAI, overlapScore, startFakeOpenAI } from '../support/fake-openai.js';
import { type TestServer, waitReady } from '../support/server.js';
import { query, seedCorpus, startWithEnv, streamEvents, uploadJson } from './query-support.js';

/*
 * The query path when parts are missing or failing: no LLM (extractive), a reranker that works,
 * fails or is slow, an LLM that is down with the extractive fallback on, and documents that are
 * still being indexed. Real HTTP, real SQLite; the stand-in OpenAI server is the only fake.
 */

const KB = 'docs';

describe('extractive answers and the reranker', () => {
  let fake: FakeOpenAI;
  let server: TestServer;
  let url: string;

  before(async () => {
    fake = await startFakeOpenAI();
    const env = { RAGD_RERANK_BASE_URL: fake.url, RAGD_RERANK_MODEL: 'fake-rerank', RAGD_RERANK_TIMEOUT_MS: '300', RAGD_RERANK_MAX_RETRIES: '0' };
    server = await startWithEnv({ ...env, RAGD_CHUNK_TOKENS: '48', RAGD_CHUNK_OVERLAP: '0' });
    url = server.url;
    await seedCorpus(url, KB);
  });
  after(async () => {
    await server?.close();
    await fake?.close();
  });

  it('answers extractively by default: labelled, best sentences, each with its [n]', async () => {
    const r = await query(url, KB, { query: 'How high does Uhuru Peak rise above sea level?' });
    assert.equal(r.answer_kind, 'extractive');
    assert.ok(r.answer!.startsWith('Extractive answer (no language model configured):'), r.answer!);
    const n = r.citations.findIndex((c) => c.document_name === 'volcano.txt') + 1;
    assert.ok(n > 0);
    assert.ok(r.answer!.includes(`rises 5,895 metres above sea level. [${n}]`), r.answer!);
  });

  it('streams the extractive answer sentence by sentence', async () => {
    const events = await streamEvents(url, KB, { query: 'Why do sea otters hold hands while sleeping?' });
    const names = events.map((e) => e.event);
    assert.equal(names[0], 'context');
    assert.equal(names.at(-1), 'done');
    const tokens = events.filter((e) => e.event === 'token').map((e) => JSON.parse(e.data).text as string);
    assert.equal(tokens[0], 'Extractive answer (no language model configured):');
    assert.ok(tokens.length >= 3);
    assert.equal(tokens.join(''), JSON.parse(events.at(-1)!.data).answer);
  });

  it('reorders the candidates with the reranker and reports it', async () => {
    const before = fake.stats.requests.rerank;
    const q = 'guest wifi network password badge';
    const r = await query(url, KB, { query: q, top_k: 3, only_context: true });
    assert.deepEqual(r.rerank, { applied: true });
    assert.equal(fake.stats.requests.rerank, before + 1);
    assert.equal(r.citations[0]!.document_name, 'handbook.pdf');
    // Scores are the reranker's, best first.
    for (const c of r.citations) assert.equal(c.score, overlapScore(q, c.text));
    assert.ok(r.citations.every((c, i) => i === 0 || c.score <= r.citations[i - 1]!.score));
  });

  it('falls back to the fused order when the reranker fails, and says so', async () => {
    fake.setBehavior({ rerank: { failNext: { status: 400, count: 1 } } });
    const r = await query(url, KB, { query: 'espresso coffee beans', only_context: true });
    assert.equal(r.rerank?.applied, false);
    assert.match(r.rerank?.fallback_reason ?? '', /reranker failed/);
    assert.equal(r.citations[0]!.document_name, 'coffee.md');
    const again = await query(url, KB, { query: 'espresso coffee beans', only_context: true });
    assert.equal(again.cached, false, 'a degraded result is not cached');
    assert.equal(again.rerank?.applied, true);
  });

  it('falls back when the reranker is too slow', async () => {
    fake.setBehavior({ rerank: { latencyMs: 5_000 } });
    try {
      const r = await query(url, KB, { query: 'parking garage electric cars', only_context: true });
      assert.equal(r.rerank?.applied, false);
      assert.match(r.rerank?.fallback_reason ?? '', /within 300 ms/);
      assert.equal(r.citations[0]!.document_name, 'handbook.pdf');
      assert.equal(r.citations[0]!.page, 3);
    } finally {
      fake.setBehavior({ rerank: { latencyMs: 0 } });
    }
  });
});

describe('LLM down with RAGD_LLM_FALLBACK=extractive, and pending documents', () => {
  let fake: FakeOpenAI;
  let server: TestServer;
  let url: string;

  before(async () => {
    fake = await startFakeOpenAI({ answer: 'A model answer [1].' });
    server = await startWithEnv({
      RAGD_LLM_BASE_URL: fake.url,
      RAGD_LLM_MAX_RETRIES: '0',
      RAGD_LLM_FALLBACK: 'extractive',
      // Embeddings come from the fake too, so the test can hold a document in its embed stage.
      RAGD_EMBED_BASE_URL: fake.url,
      RAGD_EMBED_DIM: '384',
    });
    url = server.url;
    await seedCorpus(url, KB);
  });
  after(async () => {
    await server?.close();
    await fake?.close();
  });

  it('answers extractively, labelled as a fallback, when the model is down', async () => {
    fake.setBehavior({ chat: { down: true } });
    try {
      const r = await query(url, KB, { query: 'What do sea otters use as tools?' });
      assert.equal(r.answer_kind, 'extractive');
      assert.ok(r.answer!.startsWith('Extractive answer (the language model is unavailable):'), r.answer!);
      assert.match(r.notice ?? '', /language model is unavailable/);
      const again = await query(url, KB, { query: 'What do sea otters use as tools?' });
      assert.equal(again.cached, false, 'a fallback answer is not cached');
    } finally {
      fake.setBehavior({ chat: { down: false } });
    }
    const healthy = await query(url, KB, { query: 'What do sea otters use as tools?' });
    assert.equal(healthy.answer_kind, 'llm');
    assert.equal(healthy.answer, 'A model answer [1].');
  });

  it('reports documents still being indexed in pending_documents, with a notice', async () => {
    fake.setBehavior({ embeddings: { latencyMs: 3_000 } });
    let id: string;
    try {
      id = await uploadJson(url, KB, { name: 'glaciers.txt', text: 'Glaciers carve fjords over thousands of years.' });
      const r = await query(url, KB, { query: 'glaciers fjords', mode: 'lexical', only_context: true });
      assert.equal(r.pending_documents, 1);
      assert.match(r.notice ?? '', /1 document of this knowledge base is still being indexed/);
      assert.ok(r.citations.every((c) => c.document_name !== 'glaciers.txt'), 'a pending document is not searchable yet');
    } finally {
      fake.setBehavior({ embeddings: { latencyMs: 0 } });
    }
    await waitReady(url, KB, [id]);
    const later = await query(url, KB, { query: 'glaciers fjords', mode: 'lexical', only_context: true });
    assert.equal(later.pending_documents, 0);
    assert.equal(later.notice, undefined);
    assert.equal(later.cached, false, 'the document reaching ready changed the answer');
    assert.equal(later.citations[0]?.document_name, 'glaciers.txt');
  });
});
