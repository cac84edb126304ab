import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openKbSocket } from '../support/kb-socket.js';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { type Env, readSse, requestJson, waitFor } from '../support/server.js';
import { ADMIN_KEY, authed, jsonInit, tenantWithKey, uploadAs, withAuth } from '../integration/auth-support.js';

/*
 * The isolation matrix. Two tenants, each with KBs (one of them named the same in both),
 * documents, an ingest task held running (the embedder is a stand-in that stalls on request),
 * and a finished query job. Every tenant endpoint is tried with the other tenant's key and ids,
 * with no key and with a revoked key; each attempt must answer 404 or 401 and change nothing.
 */

interface TenantFixture {
  name: string;
  key: string;
  kb: string;
  doc: string;
  docTask: string;
  runningDoc: string;
  runningTask: string;
  queryTask: string;
}

const SHARED_KB = 'shared';
const DIM = 64;

async function seedTenant(url: string, name: string): Promise<TenantFixture> {
  const key = await tenantWithKey(url, name);
  const kb = `${name}-docs`;
  for (const id of [kb, SHARED_KB]) await requestJson(`${url}/v1/kbs`, withAuth(key, jsonInit('POST', { id })));
  const doc = await uploadAs(url, key, kb, `${name}.txt`, `The secret of ${name} is the word ${name}word.`);
  await uploadAs(url, key, SHARED_KB, `${name}-shared.txt`, `Shared knowledge base of ${name}: the colour is ${name}blue.`);
  await waitFor(
    async () => {
      const docs = (await requestJson<{ documents: { status: string }[] }>(`${url}/v1/kbs/${SHARED_KB}/documents`, withAuth(key))).documents;
      const mine = (await requestJson<{ status: string }>(`${url}/v1/kbs/${kb}/documents/${doc.id}`, withAuth(key))).status;
      return mine === 'ready' && docs.every((d) => d.status === 'ready');
    },
    { what: `${name}'s documents to be ready` },
  );
  const job = await requestJson<{ task_id: string }>(
    `${url}/v1/kbs/${kb}/retrieve`,
    withAuth(key, jsonInit('POST', { query: `secret of ${name}`, mode: 'lexical', only_context: true })),
  );
  await waitFor(async () => (await requestJson<{ status: string }>(`${url}/v1/tasks/${job.task_id}`, withAuth(key))).status === 'succeeded', {
    what: 'the query job',
  });
  return { name, key, kb, doc: doc.id, docTask: doc.task_id, runningDoc: '', runningTask: '', queryTask: job.task_id };
}

/** An upload that stays in its embed stage: the stand-in embedder holds its request (see before). */
async function startRunningIngest(url: string, t: TenantFixture): Promise<void> {
  const running = await uploadAs(url, t.key, t.kb, `${t.name}-running.txt`, `Still embedding for ${t.name}.`);
  t.runningDoc = running.id;
  t.runningTask = running.task_id;
}

/** Everything a tenant can see, to compare before and after the attacks. */
async function viewOf(url: string, t: TenantFixture) {
  const get = (path: string) => requestJson<any>(`${url}${path}`, withAuth(t.key));
  const kbs = (await get('/v1/kbs')).kbs;
  const documents: Record<string, unknown> = {};
  for (const kb of kbs) documents[kb.id] = (await get(`/v1/kbs/${kb.id}/documents`)).documents;
  const tasks = await Promise.all([t.docTask, t.runningTask, t.queryTask].map((id) => get(`/v1/tasks/${id}`)));
  return { kbs, documents, tasks };
}

const openWs = (url: string, kb: string, key: string | null) => openKbSocket(url, kb, { key });

/** ragd as the matrix needs it: one node or several sharing one store, started with `env`. */
export interface IsolationDeployment {
  /** Base URLs of its API nodes; the matrix spreads its requests over them. */
  urls: string[];
  close(): Promise<void>;
  /** The nodes' output, added to a failure's message (separate processes log elsewhere). */
  logs?(): string;
}

/**
 * The matrix against a deployment: the embedded server (auth-isolation.test.ts) or a cluster of
 * API nodes and workers (cluster-isolation.test.ts). Seeding goes through the first node; attacks,
 * sockets and cached answers are spread over all of them.
 */
export function describeIsolationMatrix(label: string, start: (env: Env) => Promise<IsolationDeployment>, opts: { timeout?: number } = {}): void {
  describe(`tenant isolation matrix (${label})`, { timeout: opts.timeout ?? 300_000 }, () => {
    let fake: FakeOpenAI;
    let deployment: IsolationDeployment;
    let url: string;
    /** Node `i` of the deployment (the same one when there is only one). */
    const node = (i: number) => deployment.urls[i % deployment.urls.length]!;
    const test = (name: string, fn: () => Promise<void> | void) =>
      it(name, async () => {
        try {
          await fn();
        } catch (err) {
          const logs = deployment?.logs?.();
          if (logs && err instanceof Error) err.message += `\n\n===== deployment logs =====\n${logs}`;
          throw err;
        }
      });
    let a: TenantFixture;
    let b: TenantFixture;
    let revokedKey: string;

    before(async () => {
      fake = await startFakeOpenAI({ embedDim: DIM });
      deployment = await start({
        RAGD_ADMIN_KEY: ADMIN_KEY,
        RAGD_EMBED_BASE_URL: fake.url,
        RAGD_EMBED_DIM: String(DIM),
        RAGD_EMBED_TIMEOUT_MS: '900000',
        RAGD_EMBED_MAX_RETRIES: '0',
      });
      url = node(0);
      a = await seedTenant(url, 'alpha');
      b = await seedTenant(url, 'bravo');
      fake.setBehavior({ embeddings: { latencyMs: 600_000 } });
      await startRunningIngest(url, a);
      await startRunningIngest(url, b);
      await waitFor(() => fake.stats.inFlight.embeddings === 2, { what: 'both uploads to wait in their embed stage' });
      // Later requests are answered at once; the two held ones stay held until the end.
      fake.setBehavior({ embeddings: { latencyMs: 0 } });
      revokedKey = await tenantWithKey(url, 'charlie');
      const keys = await requestJson<{ keys: { id: string }[] }>(`${url}/v1/admin/tenants/charlie/keys`, withAuth(ADMIN_KEY));
      await requestJson(`${url}/v1/admin/tenants/charlie/keys/${keys.keys[0]!.id}`, withAuth(ADMIN_KEY, { method: 'DELETE' }));
    });
    after(async () => {
      await deployment?.close();
      await fake?.close();
    });

    test('every tenant endpoint refuses the other tenant (404) and missing or revoked keys (401), changing nothing', async () => {
      const before = { a: await viewOf(url, a), b: await viewOf(url, b) };
      assert.equal(before.a.tasks[1].status, 'running');
      assert.equal(before.b.tasks[2].status, 'succeeded');

      /** [method, path, body?] of every tenant endpoint, aimed at `victim`'s ids. */
      const endpoints = (victim: TenantFixture, attackerKb: string): [string, string, unknown?][] => [
        ['GET', `/v1/kbs/${victim.kb}`],
        ['DELETE', `/v1/kbs/${victim.kb}`],
        ['GET', `/v1/kbs/${victim.kb}/documents`],
        ['POST', `/v1/kbs/${victim.kb}/documents`, { name: 'x.txt', text: 'planted' }],
        ['GET', `/v1/kbs/${victim.kb}/documents/${victim.doc}`],
        ['DELETE', `/v1/kbs/${victim.kb}/documents/${victim.doc}`],
        ['DELETE', `/v1/kbs/${victim.kb}/documents/${victim.runningDoc}`],
        // The victim's document ids through a KB the attacker does own (same name in both tenants).
        ['GET', `/v1/kbs/${attackerKb}/documents/${victim.doc}`],
        ['DELETE', `/v1/kbs/${attackerKb}/documents/${victim.doc}`],
        ['GET', `/v1/kbs/${SHARED_KB}/documents/${victim.doc}`],
        ['GET', `/v1/tasks/${victim.docTask}`],
        ['GET', `/v1/tasks/${victim.runningTask}`],
        ['GET', `/v1/tasks/${victim.queryTask}`],
        ['GET', `/v1/tasks/${victim.runningTask}/events`],
        ['GET', `/v1/tasks/${victim.queryTask}/events`],
        ['POST', `/v1/kbs/${victim.kb}/query`, { query: 'secret', mode: 'lexical' }],
        ['POST', `/v1/kbs/${victim.kb}/query`, { query: 'secret', mode: 'lexical', stream: true }],
        ['POST', `/v1/kbs/${victim.kb}/retrieve`, { query: 'secret', mode: 'lexical' }],
      ];
      const attempts: { who: string; victim: TenantFixture; key: string | null; expect: number }[] = [
        { who: 'alpha→bravo', victim: b, key: a.key, expect: 404 },
        { who: 'bravo→alpha', victim: a, key: b.key, expect: 404 },
        { who: 'no key', victim: a, key: null, expect: 401 },
        { who: 'revoked key', victim: b, key: revokedKey, expect: 401 },
        { who: 'admin key', victim: a, key: ADMIN_KEY, expect: 401 },
      ];
      let tried = 0;
      for (const { who, victim, key, expect } of attempts) {
        const attackerKb = victim === a ? b.kb : a.kb;
        for (const [method, path, body] of endpoints(victim, attackerKb)) {
          const init = body === undefined ? { method } : jsonInit(method, body);
          // Spread over the nodes: each one must refuse on its own.
          const r = await authed(`${node(tried)}${path}`, key, { ...init, headers: { ...(init.headers as object), accept: 'application/json' } });
          assert.equal(r.status, expect, `${who}: ${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
          assert.ok(!JSON.stringify(r.body).includes(victim.name + 'word'), `${who}: ${method} ${path} leaks content`);
          tried++;
        }
        const ws = await openWs(node(tried), victim.kb, key);
        if (expect === 401) assert.equal(ws.status, 401, `${who}: WebSocket`);
        else assert.equal(ws.closeCode, 4404, `${who}: WebSocket`);
      }
      assert.ok(tried >= 80);

      // The admin API refuses tenant keys, whichever tenant they name.
      for (const key of [a.key, b.key]) {
        for (const [method, path] of [
          ['GET', '/v1/admin/tenants'],
          ['POST', '/v1/admin/tenants'],
          ['GET', `/v1/admin/tenants/${a.name}/keys`],
          ['POST', `/v1/admin/tenants/${b.name}/keys`],
          ['DELETE', `/v1/admin/tenants/${b.name}`],
          ['PATCH', `/v1/admin/tenants/${a.name}/settings`],
        ] as const) {
          const r = await authed(`${node(tried++)}${path}`, key, method === 'GET' || method === 'DELETE' ? { method } : jsonInit(method, {}));
          assert.equal(r.status, 401, `${method} ${path} with a tenant key`);
        }
      }

      const afterViews = { a: await viewOf(url, a), b: await viewOf(url, b) };
      assert.deepEqual(afterViews, before, "each tenant's own view is unchanged");
    });

    test('the same KB name in two tenants holds two separate KBs, also through the answer cache', async () => {
      for (const [me, other, at] of [
        [a, b, node(0)],
        [b, a, node(1)],
      ] as const) {
        for (let i = 0; i < 2; i++) {
          // The second round is answered from the cache: still only the asker's own documents.
          const r = await requestJson<any>(
            `${at}/v1/kbs/${SHARED_KB}/query`,
            withAuth(me.key, jsonInit('POST', { query: 'shared knowledge base colour', mode: 'lexical' })),
          );
          assert.ok(r.citations.length > 0);
          for (const c of r.citations) {
            assert.ok(c.text.includes(`${me.name}blue`), `${me.name} sees only its own shared KB`);
            assert.ok(!c.text.includes(`${other.name}blue`));
          }
          if (i === 1) assert.equal(r.cached, true);
        }
      }
    });

    test('event streams carry only the tenant’s own tasks', async () => {
      // Listening on another node than the one the upload goes through.
      const wsA = await openWs(node(1), SHARED_KB, a.key);
      const wsB = await openWs(node(1), SHARED_KB, b.key);
      assert.ok(wsA.ws && wsB.ws);
      const stop = new AbortController();
      const sse = await fetch(`${node(1)}/v1/tasks/${b.queryTask}/events`, withAuth(b.key, { headers: { accept: 'text/event-stream' }, signal: stop.signal }));
      assert.equal(sse.status, 200);
      try {
        const up = await uploadAs(url, b.key, SHARED_KB, 'bravo-late.txt', 'A late bravo document.');
        await waitFor(() => wsB.messages.some((m) => m.type === 'task' && m.task.id === up.task_id && m.task.status === 'succeeded'), {
          what: "bravo's WebSocket to see its task",
        });
        assert.ok(!wsA.messages.some((m) => m.type === 'task'), "alpha's socket on its own 'shared' KB saw none of bravo's tasks");
        // The SSE stream of bravo's query job starts with its own state.
        const first = await readSse(sse.body!)[Symbol.asyncIterator]().next();
        assert.equal(JSON.parse(first.value!.data).id, b.queryTask);
      } finally {
        wsA.ws.close();
        wsB.ws.close();
        stop.abort();
      }
    });

    test('task and document ids are unguessable (128 random bits)', () => {
      for (const id of [a.doc, a.docTask, a.runningTask, a.queryTask, b.doc]) {
        assert.match(id, /^(doc|task)_[A-Za-z0-9_-]{22}$/);
      }
    });
  });
}
