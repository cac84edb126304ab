import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FakeOpenAI } from '../support/fake-openai.js';
import { readSse, type TestServer, waitFor } from '../support/server.js';
import { type Corpus, LLM_ANSWER, openStream, postJson, query, startLlmServer } from './query-support.js';

/*
 * The query path over real HTTP: ragd in-process on a real port with a real SQLite data dir, and
 * a stand-in OpenAI-compatible server on 127.0.0.1 as the only fake.
 */

const KB = 'science';

describe('POST /v1/kbs/{kb}/query with an OpenAI-compatible model', () => {
  let fake: FakeOpenAI;
  let server: TestServer;
  let url: string;
  let corpus: Corpus;

  before(async () => {
    ({ fake, server, corpus } = await startLlmServer(KB, LLM_ANSWER));
    url = server.url;
  });
  after(async () => {
    await server?.close();
    await fake?.close();
  });

  it('finds the known answer in each mode, citing the right document, chunk and page', async () => {
    const cases = [
      { mode: 'lexical', q: 'How high does Uhuru Peak rise above sea level?', doc: 'volcano.txt', phrase: '5,895 metres', page: null },
      { mode: 'vector', q: 'sea otters hold hands while sleeping', doc: 'otters.txt', phrase: 'hold hands', page: null },
      { mode: 'hybrid', q: 'What is the guest wifi network called?', doc: 'handbook.pdf', phrase: 'Zebrafish Guest', page: 2 },
    ];
    for (const c of cases) {
      const r = await query(url, KB, { query: c.q, mode: c.mode, top_k: 3, only_context: true });
      const top = r.citations[0];
      assert.ok(top, `${c.mode}: no citation`);
      assert.equal(top.document_name, c.doc, `${c.mode}: top document`);
      assert.equal(top.document_id, corpus.ids[c.doc]);
      assert.ok(top.text.includes(c.phrase), `${c.mode}: the top chunk holds the answer: ${top.text}`);
      assert.ok(top.chunk_id.startsWith(top.document_id), 'chunk ids belong to their document');
      assert.equal(top.page, c.page, `${c.mode}: page`);
      assert.ok(r.citations.length <= 3);
      assert.equal(r.answer, null);
      assert.equal(r.answer_kind, null);
      assert.equal(r.pending_documents, 0);
      assert.equal(r.notice, undefined);
    }
  });

  it('answers with the model from numbered sources, with timings per phase', async () => {
    const r = await query(url, KB, { query: 'Which wifi network should guests use?' });
    assert.equal(r.answer_kind, 'llm');
    assert.equal(r.answer, LLM_ANSWER);
    assert.equal(r.citations[0]?.document_name, 'handbook.pdf');
    for (const phase of ['retrieve', 'rerank', 'generate', 'total'] as const) assert.equal(typeof r.timings_ms[phase], 'number');
    assert.ok(r.timings_ms.total >= r.timings_ms.generate);
    const body = fake.stats.bodies.filter((b) => b.route === 'chat').at(-1)?.body as { messages: { role: string; content: string }[] };
    assert.equal(body.messages[0]!.role, 'system');
    assert.match(body.messages[0]!.content, /\[1\]/);
    assert.match(body.messages[1]!.content, /\[1\] \(handbook\.pdf, page 2\)\n[^\n]*Zebrafish Guest/);
    assert.match(body.messages[1]!.content, /Question: Which wifi network should guests use\?$/);
  });

  it('narrows the search by document ids and by metadata values', async () => {
    const byId = await query(url, KB, {
      query: 'volcano summit sea otters',
      mode: 'lexical',
      only_context: true,
      filter: { document_ids: [corpus.ids['otters.txt']] },
    });
    assert.ok(byId.citations.length > 0);
    assert.ok(byId.citations.every((c) => c.document_name === 'otters.txt'));
    const cases: [Record<string, unknown>, string][] = [
      [{ topic: 'food' }, 'coffee.md'],
      [{ reviewed: true }, 'coffee.md'],
      [{ year: 2021 }, 'otters.txt'],
    ];
    for (const [metadata, doc] of cases) {
      for (const mode of ['lexical', 'hybrid']) {
        const r = await query(url, KB, { query: 'coffee otters volcano', mode, only_context: true, filter: { metadata } });
        assert.ok(r.citations.length > 0, `${JSON.stringify(metadata)} ${mode}`);
        assert.ok(r.citations.every((c) => c.document_name === doc), `${JSON.stringify(metadata)} ${mode}: ${r.citations.map((c) => c.document_name)}`);
      }
    }
  });

  it('refuses bad input with a clear 4xx', async () => {
    const q = (body: unknown) => postJson(`${url}/v1/kbs/${KB}/query`, body);
    const tooLong = await q({ query: 'x'.repeat(4001) });
    assert.equal(tooLong.status, 400);
    assert.equal(tooLong.body.error.code, 'query_too_long');
    assert.equal((await q({ query: 'x'.repeat(4000), only_context: true })).status, 200);
    for (const bad of [
      { query: 'a', colour: 'red' },
      { query: 'a', mode: 'semantic' },
      { query: 'a', top_k: 0 },
      { query: 'a', top_k: 51 },
      { query: '' },
      { query: '   ' },
      { query: 'a', filter: { metadata: { topic: { $ne: 1 } } } },
      { query: 'a', filter: { metadata: { 'bad key"': 1 } } },
      { query: 'a', filter: { document_ids: [{}] } },
    ]) {
      const r = await q(bad);
      assert.equal(r.status, 400, JSON.stringify(bad));
      assert.equal(typeof r.body.error.message, 'string');
    }
    const missing = await postJson(`${url}/v1/kbs/nope/query`, { query: 'a', stream: true });
    assert.equal(missing.status, 404, 'an unknown KB is a JSON 404 even when streaming was asked for');
    assert.equal(missing.body.error.code, 'not_found');
  });

  it('streams context first, then tokens as the model produces them, then done', async () => {
    fake.setBehavior({ latencyMs: 300, tokenDelayMs: 20 });
    try {
      const completed = () => fake.stats.requests.chat - fake.stats.inFlight.chat;
      const before = completed();
      const res = await openStream(url, KB, { query: 'Where is the guest wifi password printed?' });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
      const events: { event: string; data: any }[] = [];
      let completedAtContext = -1;
      let modelBusyAtFirstToken = false;
      for await (const e of readSse(res.body!)) {
        if (e.event === 'context') completedAtContext = completed();
        if (e.event === 'token' && !events.some((x) => x.event === 'token')) modelBusyAtFirstToken = fake.stats.inFlight.chat > 0;
        events.push({ event: e.event, data: JSON.parse(e.data) });
      }
      const names = events.map((e) => e.event);
      assert.equal(names[0], 'context');
      assert.equal(names.at(-1), 'done');
      assert.ok(names.filter((n) => n === 'token').length >= 3, names.join(','));
      assert.deepEqual([...new Set(names)], ['context', 'token', 'done']);
      assert.equal(completedAtContext, before, 'the context went out before the model had answered');
      assert.ok(modelBusyAtFirstToken, 'tokens are forwarded while the model is still streaming');
      const context = events[0]!.data;
      assert.equal(context.citations[0].document_name, 'handbook.pdf');
      assert.equal(context.pending_documents, 0);
      const done = events.at(-1)!.data;
      const streamed = events.filter((e) => e.event === 'token').map((e) => e.data.text).join('');
      assert.equal(streamed, LLM_ANSWER);
      assert.equal(done.answer, LLM_ANSWER);
      assert.equal(done.answer_kind, 'llm');
      assert.equal(done.cached, false);
      assert.equal(typeof done.timings_ms.generate, 'number');
    } finally {
      fake.setBehavior({ latencyMs: 0, tokenDelayMs: 0 });
    }
  });

  it('aborts the upstream model call as soon as the client disconnects', async () => {
    const lane = server.server.runtime.query.llmLane!;
    fake.setBehavior({ answer: 'word '.repeat(300), tokenDelayMs: 30 });
    try {
      for (const phase of ['while waiting for the first token', 'mid-stream']) {
        if (phase === 'while waiting for the first token') fake.setBehavior({ latencyMs: 5_000 });
        else fake.setBehavior({ latencyMs: 0 });
        const abortedBefore = fake.stats.aborted;
        const laneAbortedBefore = lane.stats().aborted;
        const controller = new AbortController();
        const res = await openStream(url, KB, { query: `a question asked ${phase}` }, controller.signal);
        const stopAfter = phase === 'mid-stream' ? 'token' : 'context';
        try {
          for await (const e of readSse(res.body!)) {
            if (e.event === stopAfter) {
              // Give the model request time to reach the fake before hanging up.
              await waitFor(() => fake.stats.inFlight.chat > 0, { timeoutMs: 5_000, what: 'the chat request' });
              controller.abort();
            }
          }
        } catch {
          // the aborted body
        }
        await waitFor(() => fake.stats.aborted > abortedBefore, { timeoutMs: 5_000, what: `the fake to see the abort (${phase})` });
        await waitFor(() => lane.stats().aborted > laneAbortedBefore, { timeoutMs: 5_000, what: 'the lane to count the abort' });
        await waitFor(() => lane.stats().inFlight === 0, { timeoutMs: 5_000, what: 'the lane slot to be released' });
      }
    } finally {
      fake.setBehavior({ answer: LLM_ANSWER, tokenDelayMs: 0, latencyMs: 0 });
    }
  });
});
