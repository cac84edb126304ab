import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryTicketStore } from '../../src/adapters/embedded/memory-ticket-store.js';
import { StreamTickets, TICKET_TTL_MS } from '../../src/services/stream-tickets.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { openKbSocket } from '../support/kb-socket.js';
import {
  assertApiError,
  call,
  requestJson,
  startTestServer,
  uploadText,
  waitFor,
  waitReady,
  waitSettled,
  type TestServer,
} from '../support/server.js';

/** The API the web console needs: retry, chunks, explained queries, stream tickets, ops, the console's own files. */

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

describe('retrying failed documents, chunks, explained queries, ops (open mode)', () => {
  let fake: FakeOpenAI;
  let server: TestServer;
  let url: string;

  before(async () => {
    fake = await startFakeOpenAI({ embedDim: 32 });
    server = await startTestServer({
      RAGD_EMBED_BASE_URL: fake.url,
      RAGD_EMBED_MODEL: 'fake-embed',
      RAGD_EMBED_DIM: '32',
      RAGD_EMBED_MAX_RETRIES: '0',
      RAGD_MAX_ATTEMPTS: '1',
    });
    url = server.url;
  });
  after(async () => {
    await server?.close();
    await fake?.close();
  });

  async function failedDocuments(names: string[]) {
    fake.setBehavior({ embeddings: { down: true } });
    const docs = [];
    for (const name of names) docs.push(await uploadText(url, 'default', name, `${name}: 果园在秋天收获苹果。 The orchard harvests apples in autumn.`));
    const settled = await waitSettled(url, 'default', docs.map((d) => d.id));
    fake.setBehavior({ embeddings: { down: false } });
    for (const d of settled) {
      assert.equal(d.status, 'failed');
      assert.match(d.error ?? '', /^embed:/);
    }
    return docs;
  }

  it('retries a failed document from the stage that failed, and refuses one that has not failed', async () => {
    const [doc] = await failedDocuments(['retry-one.txt']);
    const before = fake.stats.requests.embeddings;
    const retried = await requestJson<any>(`${url}/v1/kbs/default/documents/${doc!.id}/retry`, { method: 'POST' });
    assert.equal(retried.status, 'queued');
    assert.equal(retried.stage, 'embed', 'queued again at the stage that failed, not at parse');
    assert.equal(retried.error, null);
    const [ready] = await waitReady(url, 'default', [doc!.id]);
    assert.ok(ready!.chunks > 0);
    assert.ok(fake.stats.requests.embeddings > before);

    assertApiError(await call(`${url}/v1/kbs/default/documents/${doc!.id}/retry`, { method: 'POST' }), 409, 'not_failed');
    assertApiError(await call(`${url}/v1/kbs/default/documents/doc_doesnotexist/retry`, { method: 'POST' }), 404, 'not_found');
  });

  it('re-uploading the bytes of a failed document retries it', async () => {
    const [doc] = await failedDocuments(['again.txt']);
    const again = await uploadText(url, 'default', 'again.txt', 'again.txt: 果园在秋天收获苹果。 The orchard harvests apples in autumn.');
    assert.equal(again.id, doc!.id);
    assert.equal(again.duplicate, true);
    assert.equal(again.status, 'queued', 'no longer answered as failed');
    await waitReady(url, 'default', [doc!.id]);
    // A ready document's bytes again: a plain duplicate, nothing re-run.
    const third = await uploadText(url, 'default', 'again.txt', 'again.txt: 果园在秋天收获苹果。 The orchard harvests apples in autumn.');
    assert.deepEqual([third.duplicate, third.status], [true, 'ready']);
  });

  it('retries every failed document of a KB at once', async () => {
    const docs = await failedDocuments(['all-1.txt', 'all-2.txt']);
    const r = await requestJson<{ retried: number }>(`${url}/v1/kbs/default/documents/retry?status=failed`, { method: 'POST' });
    assert.equal(r.retried, 2);
    await waitReady(url, 'default', docs.map((d) => d.id));
    assert.deepEqual(await requestJson(`${url}/v1/kbs/default/documents/retry?status=failed`, { method: 'POST' }), { retried: 0 });
    assertApiError(await call(`${url}/v1/kbs/default/documents/retry?status=ready`, { method: 'POST' }), 400);
  });

  it("pages through a document's chunks with heading path, page and token count", async () => {
    const sections = Array.from({ length: 6 }, (_, i) => `## 第${i + 1}节 Section ${i + 1}\n\n${`苹果 apples ${i} `.repeat(160)}\n`).join('\n');
    const doc = await uploadText(url, 'default', 'long.md', `# 手册 Handbook\n\n${sections}`);
    const [ready] = await waitReady(url, 'default', [doc.id]);
    assert.ok(ready!.chunks >= 4, `several chunks (${ready!.chunks})`);
    const seen: any[] = [];
    let after = -1;
    for (let pages = 0; pages < 50; pages++) {
      const page = await requestJson<any>(`${url}/v1/kbs/default/documents/${doc.id}/chunks?limit=2&after=${after}`);
      assert.ok(page.chunks.length <= 2);
      seen.push(...page.chunks);
      if (page.next_after === null) break;
      after = page.next_after;
    }
    assert.equal(seen.length, ready!.chunks, 'every chunk once');
    assert.deepEqual(seen.map((c) => c.ordinal), [...seen.keys()]);
    assert.ok(seen.every((c) => c.token_count > 0 && c.page === null && Array.isArray(c.heading_path)));
    assert.ok(seen.some((c) => c.heading_path.includes('第2节 Section 2')), 'heading paths kept, Chinese included');
    assertApiError(await call(`${url}/v1/kbs/default/documents/doc_doesnotexist/chunks`), 404, 'not_found');

    const stats = await requestJson<any>(`${url}/v1/kbs/default/stats`);
    assert.ok(stats.documents.ready >= 1);
    assert.ok(stats.chunks >= ready!.chunks);
  });

  it("explains a query: each hit's rank and score in every ranking, never from the cache", async () => {
    await waitFor(async () => (await requestJson<any>(`${url}/v1/kbs/default/stats`)).documents.ready > 0);
    const ask = (body: object) => requestJson<any>(`${url}/v1/kbs/default/query`, json({ query: '秋天 苹果 autumn', only_context: true, ...body }));
    const hybrid = await ask({ mode: 'hybrid', explain: true });
    assert.ok(hybrid.citations.length > 0);
    assert.equal(hybrid.explain.length, hybrid.citations.length);
    hybrid.explain.forEach((x: any, i: number) => {
      assert.equal(x.chunk_id, hybrid.citations[i].chunk_id);
      assert.equal(x.fused.rank, i + 1, 'citations are in fused order');
      assert.ok(x.lexical !== null || x.vector !== null);
      assert.equal(x.rerank, null, 'no reranker configured');
    });
    const lexical = await ask({ mode: 'lexical', explain: true });
    assert.ok(lexical.explain.every((x: any, i: number) => x.lexical.rank === i + 1 && x.vector === null && x.fused === null));
    assert.equal((await ask({ mode: 'hybrid', explain: true })).cached, false, 'an explained query is never a cache hit');
    await ask({ mode: 'hybrid' });
    const plain = await ask({ mode: 'hybrid' });
    assert.equal(plain.cached, true);
    assert.equal('explain' in plain, false);
  });

  it('summarises operations as JSON while /metrics stays Prometheus text', async () => {
    const ops = await requestJson<any>(`${url}/v1/ops`);
    assert.ok(ops.requests.count > 0);
    assert.equal(typeof ops.requests.p50_ms, 'number');
    assert.ok(ops.requests.p99_ms >= ops.requests.p50_ms);
    assert.deepEqual(Object.keys(ops.queue), ['parse', 'ocr', 'chunk', 'embed', 'index']);
    assert.ok(ops.providers.some((p: any) => p.name === 'embed' && p.calls > 0 && p.failures > 0));
    assert.ok(ops.caches.some((c: any) => c.name === 'answer' && c.hits > 0));
    assert.ok(ops.documents.ready > 0);
    const metrics = await fetch(`${url}/metrics`);
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
    await metrics.body?.cancel();
  });

  it('serves the console at / with a strict CSP, and never shadows an API path', async () => {
    const home = await fetch(`${url}/`);
    assert.equal(home.status, 200);
    assert.match(home.headers.get('content-type') ?? '', /text\/html/);
    const csp = home.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    assert.equal(home.headers.get('cache-control'), 'no-cache');
    const html = await home.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset, 'index.html loads a hashed script from /assets');
    assert.doesNotMatch(html, /<script>(?!<\/script>)|https?:\/\//, 'no inline script, nothing from another origin');
    const js = await fetch(`${url}${asset}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('cache-control') ?? '', /max-age=31536000.*immutable|immutable.*max-age=31536000/);
    await js.body?.cancel();

    const spa = await fetch(`${url}/kbs/default/documents/doc_x?chunk=1`);
    assert.equal(spa.status, 200);
    assert.match(await spa.text(), /<div id="root">/);
    for (const path of ['/v1/nothing-here', '/v1/kbs/default/nothing', '/healthz/x', '/metrics/x', '/openapi.json/x', '/mcp/x', '/assets/missing-abc.js', '/nothing']) {
      const res = await call(`${url}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(res.body.error.code, 'not_found', path);
    }
    // The MCP endpoint keeps its own answer to a GET (405, as MCP clients expect), not the console's page.
    assert.equal((await call(`${url}/mcp`)).status, 405);
    assert.equal((await fetch(`${url}/openapi.json`)).headers.get('content-type')?.startsWith('application/json'), true);
  });
});

const openWs = (url: string, kb: string, ticket: string) => openKbSocket(url, kb, { ticket });

describe('stream tickets for browser event streams', () => {
  const ADMIN = 'tickets-admin-key-0123456789abcdef';
  let server: TestServer;
  let url: string;
  const keys: Record<string, string> = {};
  const auth = (who: string) => ({ authorization: `Bearer ${keys[who]}` });
  const mint = async (who: string) => (await requestJson<{ ticket: string; expires_in: number }>(`${url}/v1/stream-tickets`, { method: 'POST', headers: auth(who) })).ticket;

  before(async () => {
    server = await startTestServer({ RAGD_ADMIN_KEY: ADMIN });
    url = server.url;
    for (const t of ['alpha', 'bravo']) {
      await requestJson(`${url}/v1/admin/tenants`, json({ id: t }, { authorization: `Bearer ${ADMIN}` }));
      keys[t] = (await requestJson<{ key: string }>(`${url}/v1/admin/tenants/${t}/keys`, json({}, { authorization: `Bearer ${ADMIN}` }))).key;
    }
  });
  after(async () => server?.close());

  it('opens one WebSocket of the minting tenant, once', async () => {
    const ticket = await mint('alpha');
    const first = await openWs(url, 'default', ticket);
    assert.ok(first.ws, 'the ticket opens the socket');
    const replay = await openWs(url, 'default', ticket);
    assert.equal(replay.status, 401, 'a used ticket is refused');
    assert.equal((await openWs(url, 'default', 'rst_forged')).status, 401);

    // alpha's socket sees alpha's documents, never bravo's (both have a KB named "default").
    await requestJson(`${url}/v1/kbs/default/documents`, json({ name: 'b.txt', text: 'bravo secret 机密' }, auth('bravo')));
    const mine = await requestJson<any>(`${url}/v1/kbs/default/documents`, json({ name: 'a.txt', text: 'alpha text 文本' }, auth('alpha')));
    const alphaDoc = mine.documents[0].id;
    await waitFor(() => first.messages.some((m) => m.type === 'task' && m.task.document_id === alphaDoc && m.task.status === 'succeeded'), {
      what: "alpha's ready event",
    });
    const seenDocs = new Set(first.messages.filter((m) => m.type === 'task').map((m) => m.task.document_id));
    assert.deepEqual([...seenDocs], [alphaDoc], "only alpha's document");
    first.ws!.close();
  });

  it("cannot open another tenant's KB or stand in for a header elsewhere", async () => {
    // bravo's KB: alpha's ticket acts as alpha, for whom it does not exist.
    await requestJson(`${url}/v1/kbs`, json({ id: 'bravo-only' }, auth('bravo')));
    const cross = await openWs(url, 'bravo-only', await mint('alpha'));
    assert.equal(cross.closeCode, 4404, 'closed as not found');
    assert.equal(cross.messages.some((m) => m.type === 'hello'), false);

    // A ticket opens event streams only: on any other route it is not a credential.
    assertApiError(await call(`${url}/v1/kbs?ticket=${await mint('alpha')}`), 401, 'unauthorized');
    // Task SSE: alpha's ticket on bravo's task is a 404.
    const bravoDoc = await requestJson<any>(`${url}/v1/kbs/default/documents`, json({ name: 'c.txt', text: 'more bravo' }, auth('bravo')));
    const sse = await call(`${url}/v1/tasks/${bravoDoc.documents[0].task_id}/events?ticket=${await mint('alpha')}`);
    assert.equal(sse.status, 404);
    // The admin key mints none (it is not a tenant credential); no credential mints none.
    assertApiError(await call(`${url}/v1/stream-tickets`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } }), 401);
    assertApiError(await call(`${url}/v1/stream-tickets`, { method: 'POST' }), 401);
  });

  it("tests a tenant's providers: none configured here, unknown tenant 404, unknown kind 400", async () => {
    const admin = { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } };
    for (const kind of ['llm', 'embed', 'rerank']) {
      const r = await requestJson<any>(`${url}/v1/admin/tenants/alpha/providers/${kind}/test`, admin);
      assert.deepEqual([r.kind, r.configured, r.ok, r.message], [kind, false, true, null]);
    }
    assertApiError(await call(`${url}/v1/admin/tenants/nobody/providers/llm/test`, admin), 404);
    assertApiError(await call(`${url}/v1/admin/tenants/alpha/providers/ocr/test`, admin), 400);
    assertApiError(await call(`${url}/v1/admin/tenants/alpha/providers/llm/test`, { method: 'POST', headers: auth('alpha') }), 401);
  });

  it('expires unused tickets', async () => {
    let now = 1_000;
    const tickets = new StreamTickets(new MemoryTicketStore(() => now));
    const principal = { kind: 'tenant' as const, tenantId: 't', keyPrefix: null, via: 'key' as const };
    const { ticket } = await tickets.mint(principal);
    now += TICKET_TTL_MS + 1;
    assert.equal(await tickets.redeem(ticket), null);
    const fresh = (await tickets.mint(principal)).ticket;
    assert.deepEqual(await tickets.redeem(fresh), principal);
    assert.equal(await tickets.redeem(fresh), null);
  });
});
