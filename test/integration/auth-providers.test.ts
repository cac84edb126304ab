import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { requestJson, startTestServer, type TestServer, waitFor } from '../support/server.js';
import { ADMIN_KEY, authed, jsonInit, tenantWithKey, uploadAs, withAuth } from './auth-support.js';

/*
 * Per-tenant providers: a tenant with its own LLM and reranker settings is answered by them (with
 * its own key); a tenant without settings keeps the server's behaviour (extractive here); two
 * tenants naming the same provider share one lane.
 */

const TENANT_ANSWER = 'The depot closes at nine [1].';

describe('per-tenant provider settings', () => {
  let fake: FakeOpenAI;
  let server: TestServer;
  let url: string;
  const keys: Record<string, string> = {};

  before(async () => {
    fake = await startFakeOpenAI({ answer: TENANT_ANSWER });
    server = await startTestServer({ RAGD_ADMIN_KEY: ADMIN_KEY, RAGD_PROVIDER_ALLOW_PRIVATE: 'true' });
    url = server.url;
    for (const t of ['own', 'plain', 'twin']) {
      keys[t] = await tenantWithKey(url, t);
      const doc = await uploadAs(url, keys[t]!, 'default', 'depot.txt', 'The depot closes at nine in the evening on weekdays.');
      await waitFor(async () => (await requestJson<{ status: string }>(`${url}/v1/tasks/${doc.task_id}`, withAuth(keys[t]!))).status === 'succeeded', {
        what: 'the upload',
      });
    }
    for (const [t, secret] of [
      ['own', 'sk-own'],
      ['twin', 'sk-own'],
    ]) {
      const r = await authed(
        `${url}/v1/admin/tenants/${t}/settings`,
        ADMIN_KEY,
        jsonInit('PATCH', {
          llm: { base_url: fake.url, model: 'tenant-model', api_key: secret },
          rerank: { base_url: fake.url, model: 'tenant-rerank', api_key: secret },
        }),
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
  });
  after(async () => {
    await server?.close();
    await fake?.close();
  });

  const ask = (tenant: string) =>
    requestJson<any>(`${url}/v1/kbs/default/query`, withAuth(keys[tenant]!, jsonInit('POST', { query: 'when does the depot close?' })));

  it('answers a tenant with its own LLM and reranker, sending its own key', async () => {
    const r = await ask('own');
    assert.equal(r.answer_kind, 'llm');
    assert.equal(r.answer, TENANT_ANSWER);
    const chat = fake.stats.bodies.filter((b) => b.route === 'chat');
    assert.equal(chat.length, 1);
    assert.equal((chat[0]!.body as { model: string }).model, 'tenant-model');
    assert.equal(chat[0]!.authorization, 'Bearer sk-own', 'the sealed key is opened and sent');
    // One document only: nothing to reorder, so the reranker is skipped; the step is still the tenant's.
    assert.equal(r.rerank?.applied, true);
  });

  it('keeps the server’s providers for a tenant without settings', async () => {
    const before = fake.stats.requests.chat;
    const r = await ask('plain');
    assert.equal(r.answer_kind, 'extractive');
    assert.equal(r.rerank, undefined);
    assert.equal(fake.stats.requests.chat, before, 'the other tenant’s provider is never called');
  });

  it('shares one lane between tenants with the same provider, and follows a settings change', async () => {
    await ask('twin');
    const lanes = server.server.runtime.query.providers.lanes();
    assert.equal(lanes.filter((l) => l.name === 'llm').length, 1, 'one LLM lane for the shared configuration');
    await authed(`${url}/v1/admin/tenants/own/settings`, ADMIN_KEY, jsonInit('PATCH', { llm: null, rerank: null }));
    // Settings are cached for at most a couple of seconds.
    await waitFor(async () => (await ask('own')).answer_kind === 'extractive', { timeoutMs: 10_000, what: 'the reset to apply' });
  });

  it('a provider key sealed under another server key is refused clearly (503), not sent', async () => {
    await server.server.close();
    const restarted = await startTestServer({ RAGD_ADMIN_KEY: ADMIN_KEY, RAGD_DATA_DIR: server.dataDir, RAGD_SECRET_KEY: 'a-different-server-key', RAGD_PROVIDER_ALLOW_PRIVATE: 'true' });
    try {
      const before = fake.stats.requests.chat;
      const r = await authed(`${restarted.url}/v1/kbs/default/query`, keys.twin!, jsonInit('POST', { query: 'when does the depot close?' }));
      assert.equal(r.status, 503);
      assert.equal(r.body.error.code, 'provider_key_unreadable');
      assert.equal(fake.stats.requests.chat, before);
      const plain = await authed(`${restarted.url}/v1/kbs/default/query`, keys.plain!, jsonInit('POST', { query: 'when does the depot close?' }));
      assert.equal(plain.status, 200, 'tenants without sealed keys are unaffected');
    } finally {
      await restarted.close();
    }
  });
});
