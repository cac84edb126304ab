/**
 * Issue 16 item 5 over the admin API: a tenant's provider URL may not name internal hosts (unless
 * RAGD_PROVIDER_ALLOW_PRIVATE) nor carry credentials, and a stored key is not sent to a new host
 * unless it is given again. With private addresses refused, a name that resolves to loopback is
 * refused when the query connects, not just when it is saved.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ADMIN_KEY, authed, jsonInit, tenantWithKey } from './auth-support.js';

describe('tenant provider egress', { timeout: 60_000 }, () => {
  let server: TestServer;
  let fake: FakeOpenAI;
  let key: string;
  before(async () => {
    fake = await startFakeOpenAI({});
    server = await startTestServer({ RAGD_ADMIN_KEY: ADMIN_KEY });
    key = await tenantWithKey(server.url, 'acme');
  });
  after(async () => {
    await server?.close();
    await fake?.close();
  });
  const patch = (body: unknown) => authed(`${server.url}/v1/admin/tenants/acme/settings`, ADMIN_KEY, jsonInit('PATCH', body));

  it('refuses metadata, private and loopback addresses, and credentials in the URL', async () => {
    for (const base_url of ['http://169.254.169.254/v1', 'http://10.0.0.5/v1', 'http://2130706433/v1', 'http://[::1]:8080/v1']) {
      const r = await patch({ llm: { base_url, model: 'm', api_key: 'sk-1' } });
      assert.equal(r.status, 400, base_url);
      assert.equal(r.body.error.code, 'provider_url_not_allowed');
    }
    const creds = await patch({ llm: { base_url: 'https://user:hunter2@api.example.com/v1', model: 'm', api_key: 'sk-1' } });
    assert.equal(creds.status, 400);
    assert.doesNotMatch(JSON.stringify(creds.body), /hunter2/);
  });

  it('a new host needs the key again; the same host keeps it', async () => {
    assert.equal((await patch({ llm: { base_url: 'https://api.example.com/v1', model: 'm', api_key: 'sk-1' } })).status, 200);
    assert.equal((await patch({ llm: { base_url: 'https://api.example.com/v2', model: 'm2' } })).status, 200, 'same host: key kept');
    const moved = await patch({ llm: { base_url: 'https://other.example.net/v1', model: 'm' } });
    assert.equal(moved.status, 400);
    assert.equal(moved.body.error.code, 'api_key_required');
    assert.equal((await patch({ llm: { base_url: 'https://other.example.net/v1', model: 'm', api_key: 'sk-2' } })).status, 200);
  });

  it('a name resolving to loopback is refused when the query connects', async () => {
    const fakePort = new URL(fake.url).port;
    assert.equal((await patch({ llm: { base_url: `http://localhost.:${fakePort}/v1`, model: 'm', api_key: 'sk-1' } })).status, 200);
    const before = fake.stats.requests.chat;
    const r = await authed(`${server.url}/v1/kbs/default/query`, key, jsonInit('POST', { query: 'anything at all' }));
    assert.ok(r.status >= 500 || r.body.answer_kind === 'extractive', JSON.stringify(r.body));
    assert.equal(fake.stats.requests.chat, before, 'the model behind a loopback name was never reached');
  });
});
