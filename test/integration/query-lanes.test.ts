import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FakeOpenAI } from '../support/fake-openai.js';
import { call, readSse, type TestServer, uploadText, waitFor, waitReady } from '../support/server.js';
import { LLM_ANSWER, postJson, query, startLlmServer, streamEvents } from './query-support.js';

/*
 * The model lane (429 retry, circuit breaker), the answer cache and query jobs, over real HTTP
 * against the stand-in OpenAI-compatible server.
 */

const KB = 'lanes';

describe('model lane, answer cache and query jobs', () => {
  let fake: FakeOpenAI;
  let server: TestServer;
  let url: string;

  before(async () => {
    ({ fake, server } = await startLlmServer(KB, LLM_ANSWER));
    url = server.url;
  });
  after(async () => {
    await server?.close();
    await fake?.close();
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

    // Asked again, the job is answered from the cache: its stored result still carries the
    // answer and the citations (decoded from the cache entry's bytes for the task).
    const again = await postJson(`${url}/v1/kbs/${KB}/retrieve`, { query: 'How high is Uhuru Peak?', mode: 'lexical' });
    let cachedJob: any;
    for await (const e of readSse((await fetch(`${url}/v1/tasks/${again.body.task_id as string}/events`)).body!)) {
      if (e.event === 'task') cachedJob = JSON.parse(e.data);
    }
    assert.equal(cachedJob.status, 'succeeded');
    assert.equal(cachedJob.result.cached, true);
    assert.equal(cachedJob.result.answer, LLM_ANSWER);
    assert.deepEqual(cachedJob.result.citations, last.result.citations);

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
