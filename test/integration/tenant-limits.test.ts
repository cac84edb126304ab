/**
 * Per-tenant limits over real HTTP, each set through its RAGD_TENANT_* variable: requests per
 * minute, queries at once, stored bytes, document count, event streams at once. Every refusal is
 * a 4xx with `{error:{code,message}}`, leaves nothing behind, and the server keeps serving.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { utf8 } from '../support/fixtures.js';
import {
  call,
  listDocuments,
  postFiles,
  readSse,
  startTestServer,
  uploadFile,
  uploadText,
  waitFor,
  waitReady,
  type TestServer,
  assertApiError,
  filesUnder,
} from '../support/server.js';
import { openStream, startWithEnv } from './query-support.js';


const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });


describe('requests per minute', { timeout: 60_000 }, () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ RAGD_TENANT_RPM: '5' });
  });
  after(async () => {
    await srv?.close();
  });

  test('the 6th request in a minute is 429 with Retry-After; health and metrics are not counted', async () => {
    for (let i = 0; i < 5; i++) {
      const ok = await call(`${srv.url}/v1/kbs`);
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('x-ratelimit-remaining'), String(4 - i));
    }
    const refused = await call(`${srv.url}/v1/kbs`);
    assertApiError(refused, 429, 'rate_limited');
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After is the seconds until the window frees: ${retryAfter}`);
    assert.match(refused.body.error.message, /5 requests per minute/);

    assert.equal((await call(`${srv.url}/healthz`)).status, 200);
    assert.equal((await call(`${srv.url}/readyz`)).status, 200);
    assert.equal((await call(`${srv.url}/metrics`)).status, 200);
    assertApiError(await call(`${srv.url}/v1/kbs/default/documents`, json({ name: 'a.txt', text: 'hello' })), 429, 'rate_limited');
  });
});

describe('stored bytes and document count', { timeout: 120_000 }, () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ RAGD_TENANT_MAX_STORED_BYTES: '2000', RAGD_TENANT_MAX_DOCUMENTS: '3' });
  });
  after(async () => {
    await srv?.close();
  });

  test('a file that would pass the byte quota is 413, stored nowhere; deleting frees the space', async () => {
    const first = await uploadFile(srv.url, 'default', 'first.txt', utf8('a '.repeat(600)));
    const tooBig = await postFiles(srv.url, 'default', [{ name: 'second.txt', bytes: utf8('b '.repeat(600)) }]);
    assertApiError(tooBig, 413, 'storage_quota_exceeded');
    assert.match(tooBig.body.error.message, /2000 bytes/);
    assertApiError(await call(`${srv.url}/v1/kbs/default/documents`, json({ name: 'j.txt', text: 'c '.repeat(600) })), 413, 'storage_quota_exceeded');

    assert.deepEqual(await filesUnder(join(srv.dataDir, 'tmp')), [], 'no partial upload left in tmp');
    assert.equal((await filesUnder(join(srv.dataDir, 'blobs', 'sources'))).length, 1, 'only the accepted file is stored');
    assert.deepEqual((await listDocuments(srv.url, 'default')).map((d) => d.name), ['first.txt']);
    await waitReady(srv.url, 'default', [first.id]);

    // What fits still goes in; removing a document gives its bytes back.
    const small = await uploadFile(srv.url, 'default', 'small.txt', utf8('s '.repeat(200)));
    assert.equal((await call(`${srv.url}/v1/kbs/default/documents/${first.id}`, { method: 'DELETE' })).status, 204);
    const second = await uploadFile(srv.url, 'default', 'second.txt', utf8('b '.repeat(600)));
    await waitReady(srv.url, 'default', [small.id, second.id]);
    for (const d of [small, second]) assert.equal((await call(`${srv.url}/v1/kbs/default/documents/${d.id}`, { method: 'DELETE' })).status, 204);
  });

  test('one document past the count is 429; earlier files of the same request are kept and listed', async () => {
    await uploadText(srv.url, 'default', 'one.txt', 'document one');
    const batch = await postFiles(srv.url, 'default', [
      { name: 'two.txt', bytes: utf8('document two') },
      { name: 'three.txt', bytes: utf8('document three') },
      { name: 'four.txt', bytes: utf8('document four') },
    ]);
    assertApiError(batch, 429, 'document_quota_exceeded');
    assert.match(batch.body.error.message, /3 of its 3 documents/);
    assert.deepEqual(batch.body.error.accepted.map((d: { name: string }) => d.name), ['two.txt', 'three.txt']);
    assertApiError(await call(`${srv.url}/v1/kbs/default/documents`, json({ name: 'five.txt', text: 'five' })), 429, 'document_quota_exceeded');
    // At the limit, bytes the KB already has are the duplicate they always were (a retried upload),
    // as a file or as text; the same bytes in another KB would be a new document, and are refused.
    const one = (await listDocuments(srv.url, 'default')).find((d) => d.name === 'one.txt')!;
    const again = await postFiles(srv.url, 'default', [{ name: 'one-again.txt', bytes: utf8('document one') }]);
    assert.equal(again.status, 202, JSON.stringify(again.body));
    assert.deepEqual(again.body.documents.map((d: { id: string; duplicate: boolean }) => [d.id, d.duplicate]), [[one.id, true]]);
    assert.equal((await uploadText(srv.url, 'default', 'one.txt', 'document one')).id, one.id);
    assert.deepEqual(await filesUnder(join(srv.dataDir, 'tmp')), [], 'the re-read upload left nothing in tmp');

    // A KB of its own does not get the tenant a fresh allowance.
    assert.equal((await call(`${srv.url}/v1/kbs`, json({ id: 'other' }))).status, 201);
    assertApiError(await call(`${srv.url}/v1/kbs/other/documents`, json({ name: 'six.txt', text: 'six' })), 429, 'document_quota_exceeded');

    const docs = await listDocuments(srv.url, 'default');
    assert.deepEqual(docs.map((d) => d.name).sort(), ['one.txt', 'three.txt', 'two.txt']);
    assert.equal((await filesUnder(join(srv.dataDir, 'blobs', 'sources'))).length, 3, 'no stray stored file');
    await waitReady(srv.url, 'default', docs.map((d) => d.id));
    assert.equal((await call(`${srv.url}/v1/kbs/default/documents/${docs[0]!.id}`, { method: 'DELETE' })).status, 204);
    await uploadText(srv.url, 'default', 'five.txt', 'five, now that there is room');
  });
});

describe('queries and event streams at once', { timeout: 120_000 }, () => {
  let fake: FakeOpenAI;
  let srv: TestServer;
  before(async () => {
    // A slow model: a streamed answer stays open until the client leaves.
    fake = await startFakeOpenAI({ answer: Array.from({ length: 200 }, (_, i) => `word${i}`).join(' '), tokenDelayMs: 200 });
    srv = await startWithEnv({
      RAGD_LLM_BASE_URL: fake.url,
      RAGD_LLM_MODEL: 'fake-chat',
      RAGD_TENANT_MAX_CONCURRENT_QUERIES: '1',
      RAGD_TENANT_MAX_EVENT_STREAMS: '2',
    });
    const doc = await uploadText(srv.url, 'default', 'otters.txt', 'Sea otters hold hands while sleeping so that they do not drift apart.');
    await waitReady(srv.url, 'default', [doc.id]);
  });
  after(async () => {
    await srv?.close();
    await fake?.close();
  });

  test('a second query while one runs is 429 (sync, stream and job alike); the slot frees when it ends', async () => {
    const abort = new AbortController();
    const open = await openStream(srv.url, 'default', { query: 'why do otters hold hands?' }, abort.signal);
    assert.equal(open.status, 200);
    const events = readSse(open.body!);
    assert.equal((await events.next()).value?.event, 'context');

    const sync = await call(`${srv.url}/v1/kbs/default/query`, json({ query: 'otters?', only_context: true }));
    assertApiError(sync, 429, 'too_many_queries');
    assert.equal(sync.headers.get('retry-after'), '1');
    assertApiError(await call(`${srv.url}/v1/kbs/default/retrieve`, json({ query: 'otters?' })), 429, 'too_many_queries');

    abort.abort();
    await events.return(undefined).catch(() => {});
    const after = await waitFor(
      async () => {
        const r = await call(`${srv.url}/v1/kbs/default/query`, json({ query: 'otters?', only_context: true }));
        return r.status === 429 ? null : r;
      },
      { timeoutMs: 10_000, what: 'the query slot to be released' },
    );
    assert.equal(after.status, 200);
    assert.ok(after.body.citations.length > 0);
    // A finished sync query gave its slot back too.
    assert.equal((await call(`${srv.url}/v1/kbs/default/query`, json({ query: 'sea otters', only_context: true }))).status, 200);
  });

  test('a third event stream is 429, SSE and WebSocket alike; closing one lets the next in', async () => {
    const wsUrl = `${srv.url.replace(/^http/, 'ws')}/v1/kbs/default/events`;
    const openWs = () =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(wsUrl);
        ws.once('message', () => resolve(ws));
        ws.once('unexpected-response', (req, res) => {
          res.once('end', () => req.destroy());
          reject(Object.assign(new Error('refused'), { status: res.statusCode, res }));
        });
        ws.once('error', reject);
      });
    const a = await openWs();
    const b = await openWs();
    try {
      const third = await openWs().then(
        (ws) => (ws.close(), null),
        (err: { status?: number; res?: NodeJS.ReadableStream }) => err,
      );
      assert.equal(third?.status, 429, 'a third WebSocket is refused at the upgrade');
      const body = await new Promise<string>((resolve) => {
        let text = '';
        third!.res!.on('data', (c) => (text += String(c)));
        third!.res!.on('end', () => resolve(text));
      });
      assert.equal(JSON.parse(body).error.code, 'too_many_streams');

      const up = await uploadText(srv.url, 'default', 'stream.txt', 'Streams are counted per tenant.');
      assertApiError(await call(`${srv.url}/v1/tasks/${up.task_id}/events`), 429, 'too_many_streams');
      await waitReady(srv.url, 'default', [up.id]);

      a.close();
      // A finished task's SSE stream sends its state and ends, giving its slot back.
      const sse = await waitFor(
        async () => {
          const res = await fetch(`${srv.url}/v1/tasks/${up.task_id}/events`);
          if (res.status === 429) return void (await res.body?.cancel());
          return res;
        },
        { timeoutMs: 10_000, what: 'the closed WebSocket to free its slot' },
      );
      const seen: string[] = [];
      for await (const e of readSse(sse.body!)) seen.push(e.event);
      assert.deepEqual(seen, ['task', 'end']);
      const c = await waitFor(() => openWs().catch(() => null), { timeoutMs: 10_000, what: 'a slot after the SSE stream ended' });
      c.close();
    } finally {
      a.close();
      b.close();
    }
  });
});
