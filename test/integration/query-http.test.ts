import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { call, readSse, type TestServer, uploadText, waitFor, waitReady } from '../support/server.js';
import { type Corpus, openStream, postJson, query, seedCorpus, startWithEnv, streamEvents, uploadJson } from './query-support.js';

/*
 * The query path over real HTTP: ragd in-process on a real port with a real SQLite data dir, and
 * a stand-in OpenAI-compatible server on 127.0.0.1 as the only fake.
 */

const KB = 'science';
const LLM_ANSWER = 'The guest network is Zebrafish Guest [1].';

describe('POST /v1/kbs/{kb}/query with an OpenAI-compatible model', () => {
  let fake: FakeOpenAI;
  let server: TestServer;
  let url: string;
  let corpus: Corpus;

  before(async () => {
    fake = await startFakeOpenAI({ answer: LLM_ANSWER });
    server = await startWithEnv({
      RAGD_LLM_BASE_URL: fake.url,
      RAGD_LLM_MODEL: 'fake-chat',
      RAGD_LLM_MAX_RETRIES: '2',
      RAGD_LLM_BACKOFF_MS: '10',
      RAGD_LLM_BREAKER_VOLUME: '3',
      RAGD_LLM_BREAKER_RESET_MS: '500',
      RAGD_RESULT_TTL_MS: '1000',
      RAGD_CHUNK_TOKENS: '48',
      RAGD_CHUNK_OVERLAP: '0',
    });
    url = server.url;
    corpus = await seedCorpus(url, KB);
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

  it('retries a 429 from the model and still answers', async () => {
    const lane = server.server.runtime.query.llmLane!;
    const retriesBefore = lane.stats().retries;
    const failedBefore = fake.stats.failed.chat;
    const requestsBefore = fake.stats.requests.chat;
    fake.setBehavior({ chat: { failNext: { status: 429, count: 1, retryAfterMs: 20 } } });
    const r = await query(url, KB, { query: 'How do sea otters keep from drifting apart?' });
    assert.equal(r.answer_kind, 'llm');
    assert.equal(r.answer, LLM_ANSWER);
    assert.equal(fake.stats.failed.chat - failedBefore, 1);
    assert.equal(fake.stats.requests.chat - requestsBefore, 2);
    assert.equal(lane.stats().retries - retriesBefore, 1);
  });

  it('serves a cached answer until an upload reaches ready or a document is deleted', async () => {
    const body = { query: 'What do sea otters use rocks for?' };
    const chats = () => fake.stats.requests.chat;
    const first = await query(url, KB, body);
    assert.equal(first.cached, false);
    const n = chats();
    const second = await query(url, KB, { ...body, query: '  what do SEA otters use rocks for? ' });
    assert.equal(second.cached, true, 'the normalised query hits');
    assert.equal(second.answer, first.answer);
    assert.deepEqual(second.citations, first.citations);
    assert.equal(chats(), n, 'a hit does not call the model');
    assert.equal((await query(url, KB, { ...body, top_k: 2 })).cached, false, 'top_k is part of the key');

    const streamed = await streamEvents(url, KB, body);
    assert.equal(JSON.parse(streamed.at(-1)!.data).cached, true, 'a hit can be streamed too');

    const added = await uploadText(url, KB, 'otter-tools.txt', 'Sea otters keep a favourite rock in a pouch of skin under the forearm and use rocks to open clams.');
    await waitReady(url, KB, [added.id]);
    const afterUpload = await query(url, KB, body);
    assert.equal(afterUpload.cached, false, 'an upload that reached ready invalidates');
    assert.ok(afterUpload.citations.some((c) => c.document_id === added.id), 'the new document is searchable in the fresh answer');
    assert.equal((await query(url, KB, body)).cached, true);

    const del = await call(`${url}/v1/kbs/${KB}/documents/${added.id}`, { method: 'DELETE' });
    assert.ok(del.status >= 200 && del.status < 300, `delete: ${del.status}`);
    const afterDelete = await query(url, KB, body);
    assert.equal(afterDelete.cached, false, 'a delete invalidates');
    assert.ok(afterDelete.citations.every((c) => c.document_id !== added.id), 'the deleted document is gone from the answer');
  });

  it('runs a query as a job: 202, the result in the task and its event stream, then expiry', async () => {
    const res = await postJson(`${url}/v1/kbs/${KB}/retrieve`, { query: 'How high is Uhuru Peak?', mode: 'lexical' });
    assert.equal(res.status, 202);
    const taskId = res.body.task_id as string;
    assert.match(taskId, /^task_/);
    const stream = await fetch(`${url}/v1/tasks/${taskId}/events`);
    const states: any[] = [];
    for await (const e of readSse(stream.body!)) if (e.event === 'task') states.push(JSON.parse(e.data));
    const last = states.at(-1);
    assert.equal(last.kind, 'retrieve');
    assert.equal(last.status, 'succeeded');
    assert.equal(last.result.answer, LLM_ANSWER);
    assert.equal(last.result.citations[0].document_name, 'volcano.txt');
    assert.equal(typeof last.result.timings_ms.total, 'number');

    const unknownKb = await postJson(`${url}/v1/kbs/nope/retrieve`, { query: 'x' });
    assert.equal(unknownKb.status, 404);
    // RAGD_RESULT_TTL_MS is 1 s here: the result is purged soon after.
    await waitFor(async () => (await call(`${url}/v1/tasks/${taskId}`)).status === 404, { timeoutMs: 15_000, what: 'the result to expire' });
  });

  it('opens the breaker when the model is down (fast 503), and closes it when it is back', async () => {
    const lane = server.server.runtime.query.llmLane!;
    fake.setBehavior({ down: true });
    try {
      let i = 0;
      await waitFor(
        async () => {
          const r = await postJson(`${url}/v1/kbs/${KB}/query`, { query: `outage question ${i++}` });
          assert.equal(r.status, 503);
          assert.equal(r.body.error.code, 'provider_unavailable');
          return lane.stats().breaker === 'open';
        },
        { timeoutMs: 20_000, what: 'the breaker to open' },
      );
      const reached = fake.stats.requests.chat;
      const fast = await postJson(`${url}/v1/kbs/${KB}/query`, { query: 'one more outage question' });
      assert.equal(fast.status, 503);
      assert.match(fast.body.error.message, /circuit open/);
      assert.equal(fake.stats.requests.chat, reached, 'an open breaker fails fast without calling the model');
    } finally {
      fake.setBehavior({ down: false });
    }
    // After the reset timeout (500 ms) a probe goes through and closes the breaker.
    await waitFor(
      async () => {
        const r = await postJson(`${url}/v1/kbs/${KB}/query`, { query: 'is the model back?' });
        return r.status === 200 && r.body.answer_kind === 'llm';
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'the model to answer again' },
    );
    assert.equal(lane.stats().breaker, 'closed');
  });
});
