import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { requestJson, startTestServer, type TestServer, waitFor } from '../support/server.js';
import { ADMIN_KEY, authed, jsonInit, tenantWithKey, uploadAs, withAuth } from './auth-support.js';

/*
 * Per-tenant embedding settings: tenant "own" embeds with its own OpenAI-compatible provider (the
 * stand-in, with its own key), tenant "plain" with the server's local hash embedder. Each KB
 * records the embedder it was built with; ingestion and vector queries use that one, and once
 * "own" changes its settings, its old KB refuses (never mixes) vectors of the new space.
 */

const OWN_KEY = 'sk-own-embedding-key-5f2a';
const DIM = 64;
const OWN_TEXT = 'The lighthouse keeper polishes the brass lantern every Tuesday morning.';
const PLAIN_TEXT = 'The zeppelin hangar stores three airships beside the frozen harbour.';

interface Hit {
  document_name: string;
}
interface TaskView {
  status: string;
  error: string | null;
}

describe('per-tenant embedding settings', () => {
  let fake: FakeOpenAI;
  let server: TestServer;
  let url: string;
  let ownKey: string;
  let plainKey: string;
  let embedSpace: string;

  const embedCalls = () => fake.stats.bodies.filter((b) => b.route === 'embeddings');
  const embedInputs = () => embedCalls().flatMap((b) => (b.body as { input: string[] }).input);
  const settled = (key: string, taskId: string) =>
    waitFor(
      async () => {
        const t = await requestJson<TaskView>(`${url}/v1/tasks/${taskId}`, withAuth(key));
        return t.status === 'succeeded' || t.status === 'failed' ? t : null;
      },
      { what: `task ${taskId} to settle` },
    );
  const vectorQuery = (key: string, kb: string, query: string, mode = 'vector') =>
    authed(`${url}/v1/kbs/${kb}/query`, key, jsonInit('POST', { query, mode, only_context: true }));

  before(async () => {
    fake = await startFakeOpenAI({ embedDim: DIM, maxBodies: 1000 });
    // No lane retries and quick stage retries: a failed embedding call is retried by the pipeline, soon.
    server = await startTestServer({ RAGD_ADMIN_KEY: ADMIN_KEY, RAGD_EMBED_MAX_RETRIES: '0', RAGD_BACKOFF_BASE_MS: '50', RAGD_PROVIDER_ALLOW_PRIVATE: 'true' });
    url = server.url;
    embedSpace = `openai:${fake.url}#own-embed:${DIM}`;
    const created = await authed(
      `${url}/v1/admin/tenants`,
      ADMIN_KEY,
      jsonInit('POST', { id: 'own', settings: { embed: { base_url: fake.url, model: 'own-embed', api_key: OWN_KEY, dim: DIM } } }),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    ownKey = (await requestJson<{ key: string }>(`${url}/v1/admin/tenants/own/keys`, withAuth(ADMIN_KEY, jsonInit('POST', { name: 't' })))).key;
    plainKey = await tenantWithKey(url, 'plain');
  });
  after(async () => {
    await server?.close();
    await fake?.close();
  });

  it('validates the embedding settings (dimension 8..8192, base URL, known fields)', async () => {
    for (const embed of [
      { base_url: fake.url, model: 'm', dim: 4 },
      { base_url: fake.url, model: 'm', dim: 9000 },
      { base_url: fake.url, model: 'm' },
      { base_url: 'ftp://x', model: 'm', dim: 64 },
      { base_url: fake.url, model: 'm', dim: 64, extra: true },
    ]) {
      const r = await authed(`${url}/v1/admin/tenants/plain/settings`, ADMIN_KEY, jsonInit('PATCH', { embed }));
      assert.equal(r.status, 400, JSON.stringify(embed));
      assert.ok(r.body.error.code, 'a readable error');
    }
    const view = await authed(`${url}/v1/admin/tenants/plain/settings`, ADMIN_KEY);
    assert.equal(view.body.embed, null, 'nothing was stored');
  });

  it('shows the settings without the key, and stores the key only sealed', async () => {
    const view = await authed(`${url}/v1/admin/tenants/own/settings`, ADMIN_KEY);
    assert.equal(view.status, 200);
    assert.deepEqual(view.body.embed, { base_url: fake.url, model: 'own-embed', api_key_set: true, dim: DIM });
    assert.ok(!JSON.stringify(view.body).includes(OWN_KEY));
    // Every database file (main, WAL) in the data directory: the key never appears in clear text.
    const dbFiles = readdirSync(server.dataDir).filter((f) => f.startsWith('ragd.db'));
    assert.ok(dbFiles.length > 0);
    for (const f of dbFiles) assert.ok(!readFileSync(join(server.dataDir, f)).includes(OWN_KEY), `${f} holds the key in clear text`);
  });

  it("records each tenant's embedder in its KBs, the default one included", async () => {
    const own = await requestJson<{ kbs: { id: string; embedder: string; embed_dim: number }[] }>(`${url}/v1/kbs`, withAuth(ownKey));
    assert.deepEqual(own.kbs.map((k) => [k.id, k.embedder, k.embed_dim]), [['default', embedSpace, DIM]]);
    const notes = await authed(`${url}/v1/kbs`, ownKey, jsonInit('POST', { id: 'notes' }));
    assert.equal(notes.status, 201);
    assert.equal(notes.body.embedder, embedSpace);
    const plain = await requestJson<{ kbs: { embedder: string; embed_dim: number }[] }>(`${url}/v1/kbs`, withAuth(plainKey));
    assert.match(plain.kbs[0]!.embedder, /^hash:/);
  });

  it('ingests and answers each tenant with its own embedder; the other tenant never reaches the provider', async () => {
    const ownDoc = await uploadAs(url, ownKey, 'default', 'lighthouse.txt', OWN_TEXT);
    assert.equal((await settled(ownKey, ownDoc.task_id)).status, 'succeeded');
    const afterOwnIngest = embedCalls().length;
    assert.ok(afterOwnIngest >= 1, 'the ingestion embedding call reached the provider');
    assert.ok(embedInputs().some((t) => t.includes('brass lantern')));

    const plainDoc = await uploadAs(url, plainKey, 'default', 'zeppelin.txt', PLAIN_TEXT);
    assert.equal((await settled(plainKey, plainDoc.task_id)).status, 'succeeded');
    const plainHits = await vectorQuery(plainKey, 'default', 'where are the airships stored?');
    assert.equal(plainHits.status, 200, JSON.stringify(plainHits.body));
    assert.deepEqual(plainHits.body.citations.map((c: Hit) => c.document_name), ['zeppelin.txt']);
    assert.equal(embedCalls().length, afterOwnIngest, "the hash tenant's ingestion and query made no provider call");

    const ownHits = await vectorQuery(ownKey, 'default', 'who polishes the brass lantern?');
    assert.equal(ownHits.status, 200, JSON.stringify(ownHits.body));
    assert.deepEqual(ownHits.body.citations.map((c: Hit) => c.document_name), ['lighthouse.txt']);
    assert.equal(embedCalls().length, afterOwnIngest + 1, 'the question was embedded by the provider');

    for (const call of embedCalls()) {
      assert.equal(call.authorization, `Bearer ${OWN_KEY}`, 'the sealed key is opened and sent');
      assert.equal((call.body as { model: string }).model, 'own-embed');
    }
    assert.ok(!embedInputs().some((t) => /zeppelin|airships/.test(t)), "none of the hash tenant's text reached the provider");
  });

  it('after a settings change, the old KB refuses to mix spaces: uploads 409, queued documents fail readably', async () => {
    // A document whose embedding call is held, then fails once: its retry runs after the change.
    fake.setBehavior({ embeddings: { latencyMs: 1_000, failNext: { status: 503, count: 1 } } });
    const caught = await uploadAs(url, ownKey, 'default', 'caught.txt', 'The ferry timetable changes in October.');
    await waitFor(() => fake.stats.inFlight.embeddings > 0, { what: 'the held embedding call' });
    const changed = await authed(
      `${url}/v1/admin/tenants/own/settings`,
      ADMIN_KEY,
      jsonInit('PATCH', { embed: { base_url: fake.url, model: 'own-embed-v2', dim: DIM } }),
    );
    assert.equal(changed.status, 200);
    assert.equal(changed.body.embed.api_key_set, true, 'an omitted key is kept');

    const failed = await settled(ownKey, caught.task_id);
    fake.setBehavior({ embeddings: { latencyMs: 0 } });
    assert.equal(failed.status, 'failed');
    assert.match(failed.error ?? '', /embedder .*own-embed:64.* no longer available/);

    const refused = await authed(`${url}/v1/kbs/default/documents`, ownKey, jsonInit('POST', { name: 'late.txt', text: 'Too late.' }));
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'embedder_mismatch');
    assert.match(refused.body.error.message, /own-embed-v2/);

    // A question not asked before (an answer already cached for this KB version is still served).
    const vector = await vectorQuery(ownKey, 'default', 'what does the keeper polish on Tuesdays?');
    assert.equal(vector.status, 409);
    assert.equal(vector.body.error.code, 'embedder_mismatch');
    const hybrid = await vectorQuery(ownKey, 'default', 'what does the keeper polish on Tuesdays?', 'hybrid');
    assert.equal(hybrid.status, 200, 'hybrid falls back to BM25');
    assert.match(hybrid.body.notice, /vector search skipped/);

    // A new KB is built in the new space, with the kept key.
    const fresh = await authed(`${url}/v1/kbs`, ownKey, jsonInit('POST', { id: 'fresh' }));
    assert.equal(fresh.body.embedder, `openai:${fake.url}#own-embed-v2:${DIM}`);
    const doc = await uploadAs(url, ownKey, 'fresh', 'ferry.txt', 'The ferry timetable changes in October.');
    assert.equal((await settled(ownKey, doc.task_id)).status, 'succeeded');
    const last = embedCalls().at(-1)!;
    assert.equal((last.body as { model: string }).model, 'own-embed-v2');
    assert.equal(last.authorization, `Bearer ${OWN_KEY}`);
  });

  it('leaves the other tenant unaffected', async () => {
    const before = embedCalls().length;
    const doc = await uploadAs(url, plainKey, 'default', 'harbour.txt', 'The harbour master rings the bell at noon.');
    assert.equal((await settled(plainKey, doc.task_id)).status, 'succeeded');
    const r = await vectorQuery(plainKey, 'default', 'who rings the bell at noon?');
    assert.equal(r.status, 200);
    assert.equal(r.body.citations[0].document_name, 'harbour.txt');
    assert.equal(embedCalls().length, before);
  });

  it('removes the embedding settings with null: new KBs use the server embedder again', async () => {
    const r = await authed(`${url}/v1/admin/tenants/own/settings`, ADMIN_KEY, jsonInit('PATCH', { embed: null }));
    assert.equal(r.body.embed, null);
    const kb = await authed(`${url}/v1/kbs`, ownKey, jsonInit('POST', { id: 'local' }));
    assert.match(kb.body.embedder, /^hash:/);
  });
});
