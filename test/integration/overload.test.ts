/**
 * Backpressure over real HTTP: with the query bound at N and 10×N questions sent at once, the
 * excess is refused with 503 `overloaded` + Retry-After before any admitted answer is done, the
 * model never sees more than N at once, and every admitted question gets its full answer.
 * Uploads are refused the same way while the pipeline backlog is at its limit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { postFiles, type TestServer, uploadText, waitReady } from '../support/server.js';
import { postJson, startWithEnv } from './query-support.js';

const N = 4;
const ANSWER = 'Sea otters hold hands so that they do not drift apart [1].';

interface Outcome {
  status: number;
  body: any;
  retryAfter: string | null;
  at: number;
}

async function ask(url: string, i: number): Promise<Outcome> {
  const res = await postJson(`${url}/v1/kbs/default/query`, { query: `Why do sea otters hold hands? (variant ${i})` });
  return { status: res.status, body: res.body, retryAfter: res.headers.get('retry-after'), at: performance.now() };
}

describe('query admission', () => {
  let fake: FakeOpenAI;
  let server: TestServer;

  before(async () => {
    // Each answer takes a second at the model, so the N admitted questions are still running
    // while the other 9×N arrive.
    fake = await startFakeOpenAI({ answer: ANSWER, chat: { latencyMs: 1000 } });
    server = await startWithEnv({
      RAGD_LLM_BASE_URL: fake.url,
      RAGD_LLM_MODEL: 'fake-chat',
      RAGD_LLM_CONCURRENCY: String(10 * N),
      RAGD_MAX_CONCURRENT_QUERIES: String(N),
      // One tenant here: lift its own bound (half the process's by default) to test the process's.
      RAGD_TENANT_MAX_CONCURRENT_QUERIES: String(10 * N),
      RAGD_MAX_QUEUED_QUERIES: '0',
      RAGD_RETRY_AFTER_SEC: '3',
    });
    const doc = await uploadText(server.url, 'default', 'otters.txt', 'Sea otters hold hands while sleeping so that they do not drift apart.');
    await waitReady(server.url, 'default', [doc.id]);
  });
  after(async () => {
    await server?.close();
    await fake?.close();
  });

  test('10×N at once: N admitted and answered, the rest refused with 503 before any answer', async () => {
    const outcomes = await Promise.all(Array.from({ length: 10 * N }, (_, i) => ask(server.url, i)));
    const admitted = outcomes.filter((o) => o.status === 200);
    const refused = outcomes.filter((o) => o.status !== 200);

    assert.equal(admitted.length, N, `statuses: ${outcomes.map((o) => o.status).join(',')}`);
    for (const o of admitted) {
      assert.equal(o.body.answer, ANSWER, 'every admitted question completes with its full answer');
      assert.equal(o.body.answer_kind, 'llm');
    }
    for (const o of refused) {
      assert.equal(o.status, 503);
      assert.equal(o.body.error.code, 'overloaded');
      assert.match(o.body.error.message, /too many queries/);
      assert.equal(o.retryAfter, '3');
    }
    const firstAnswer = Math.min(...admitted.map((o) => o.at));
    const lastRefusal = Math.max(...refused.map((o) => o.at));
    assert.ok(lastRefusal < firstAnswer, 'refusals are immediate: none waits for an admitted answer');
    assert.ok(fake.stats.maxConcurrent.chat <= N, `the model saw ${fake.stats.maxConcurrent.chat} at once`);

    const stats = server.server.runtime.admission.queries.stats();
    assert.equal(stats.active, 0, 'every slot was released');
    assert.equal(stats.rejected, 9 * N);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`^ragd_admission_rejected_total\\{gate="query"\\} ${9 * N}$`, 'm'));
    assert.match(metrics, /^ragd_admission_active\{gate="query"\} 0$/m);
  });

  test('streamed answers hold their slot until done, then release it', async () => {
    const streams = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        fetch(`${server.url}/v1/kbs/default/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: `How do otters sleep? (stream ${i})`, stream: true }),
        }),
      ),
    );
    assert.deepEqual(streams.map((r) => r.status), Array(N).fill(200));
    const extra = await ask(server.url, 1000);
    assert.equal(extra.status, 503, 'the open streams hold all N slots');
    const texts = await Promise.all(streams.map((r) => r.text()));
    for (const t of texts) assert.match(t, /event: done/);
    assert.equal((await ask(server.url, 1001)).status, 200, 'the slots came back');
  });
});

describe('upload admission', () => {
  let fake: FakeOpenAI;
  let server: TestServer;

  before(async () => {
    // Embedding takes 10 s, so uploaded documents stay in the pipeline's backlog.
    fake = await startFakeOpenAI({ embeddings: { latencyMs: 10_000 } });
    server = await startWithEnv({
      RAGD_EMBED_BASE_URL: fake.url,
      RAGD_EMBED_MODEL: 'fake-embed',
      RAGD_EMBED_DIM: '384',
      RAGD_MAX_PIPELINE_BACKLOG: '2',
      RAGD_SHUTDOWN_TIMEOUT_MS: '500',
    });
  });
  after(async () => {
    await server?.close();
    await fake?.close();
  });

  test('uploads are refused with 503 while the backlog is at its limit; nothing is stored', async () => {
    await uploadText(server.url, 'default', 'a.txt', 'first document about otters');
    await uploadText(server.url, 'default', 'b.txt', 'second document about otters');
    await new Promise((r) => setTimeout(r, 300)); // past the guard's 250 ms reading
    const refused = await postJson(`${server.url}/v1/kbs/default/documents`, { name: 'c.txt', text: 'third document' });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'overloaded');
    assert.match(refused.body.error.message, /backlog/);
    assert.equal(refused.headers.get('retry-after'), '1');
    const multipart = await postFiles(server.url, 'default', [{ name: 'd.txt', bytes: Buffer.alloc(256 * 1024, 'otters ') }]);
    assert.equal(multipart.status, 503, 'a multipart upload is refused the same way, before its body is read');
    assert.equal(multipart.body.error.code, 'overloaded');
    const list = (await (await fetch(`${server.url}/v1/kbs/default/documents`)).json()) as { documents: { name: string }[] };
    assert.deepEqual(list.documents.map((d) => d.name).sort(), ['a.txt', 'b.txt']);
  });
});
