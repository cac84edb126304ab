import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { ADMIN_KEY, authed, jsonInit, tenantWithKey } from './auth-support.js';

/*
 * Tenants and API keys over real HTTP: the admin credential manages them, tenant keys act only in
 * their tenant, a revoked key stops working at once, and nothing secret is ever echoed back.
 */

describe('admin API and API keys', () => {
  let server: TestServer;
  let url: string;

  before(async () => {
    server = await startTestServer({ RAGD_ADMIN_KEY: ADMIN_KEY, RAGD_SECRET_KEY: 'server-secret-for-tests', RAGD_PROVIDER_ALLOW_PRIVATE: 'true' });
    url = server.url;
  });
  after(async () => server?.close());

  it('answers 401 without, or with bad, credentials; probes stay open', async () => {
    for (const credential of [null, 'nope', 'ragd_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'a.b.c']) {
      const r = await authed(`${url}/v1/kbs`, credential);
      assert.equal(r.status, 401, `credential ${credential}`);
      assert.equal(r.body.error.code, 'unauthorized');
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    }
    const malformed = await authed(`${url}/v1/kbs`, null, { headers: { authorization: 'Basic Zm9vOmJhcg==' } });
    assert.equal(malformed.status, 401);
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      const r = await authed(`${url}${path}`, null);
      assert.equal(r.status, 200, path);
    }
  });

  it('keeps the admin key and tenant keys apart', async () => {
    const key = await tenantWithKey(url, 'acme');
    assert.match(key, /^ragd_[0-9a-f]{8}_/);
    assert.equal((await authed(`${url}/v1/kbs`, ADMIN_KEY)).status, 401, 'the admin key opens no tenant');
    assert.equal((await authed(`${url}/v1/admin/tenants`, key)).status, 401, 'a tenant key is not an admin key');
    // The router decodes the path: a percent-encoded admin path is still the admin API.
    assert.equal((await authed(`${url}/v1/%61dmin/tenants`, key)).status, 401, 'an encoded admin path is still admin');
    assert.equal((await authed(`${url}/v1/%61dmin/tenants`, ADMIN_KEY)).status, 200);
    assert.equal((await authed(`${url}/v1/no-such-route`, null)).status, 401, 'an unknown path tells the unauthenticated nothing');
    const kbs = await authed(`${url}/v1/kbs`, key);
    assert.equal(kbs.status, 200);
    assert.deepEqual(kbs.body.kbs.map((k: { id: string }) => k.id), ['default'], 'a new tenant starts with its own default KB');
  });

  it('manages tenants: create, conflict, list, show, delete', async () => {
    const created = await authed(`${url}/v1/admin/tenants`, ADMIN_KEY, jsonInit('POST', { id: 'beta', name: 'Beta Corp' }));
    assert.equal(created.status, 201);
    assert.equal(created.body.name, 'Beta Corp');
    assert.equal((await authed(`${url}/v1/admin/tenants`, ADMIN_KEY, jsonInit('POST', { id: 'beta' }))).status, 409);
    assert.equal((await authed(`${url}/v1/admin/tenants`, ADMIN_KEY, jsonInit('POST', { id: '../x' }))).status, 400);
    const list = await authed(`${url}/v1/admin/tenants`, ADMIN_KEY);
    assert.ok(list.body.tenants.some((t: { id: string }) => t.id === 'beta'));
    assert.equal((await authed(`${url}/v1/admin/tenants/beta`, ADMIN_KEY)).status, 200);
    assert.equal((await authed(`${url}/v1/admin/tenants/default`, ADMIN_KEY, { method: 'DELETE' })).status, 409);
    assert.equal((await authed(`${url}/v1/admin/tenants/beta`, ADMIN_KEY, { method: 'DELETE' })).status, 204);
    assert.equal((await authed(`${url}/v1/admin/tenants/beta`, ADMIN_KEY)).status, 404);
    assert.equal((await authed(`${url}/v1/admin/tenants/beta/keys`, ADMIN_KEY)).status, 404);
  });

  it('shows a key once, lists it by prefix only, and a revoked key stops working', async () => {
    const key = await tenantWithKey(url, 'gamma');
    assert.equal((await authed(`${url}/v1/kbs`, key)).status, 200);
    const listed = await authed(`${url}/v1/admin/tenants/gamma/keys`, ADMIN_KEY);
    assert.equal(listed.status, 200);
    const [view] = listed.body.keys;
    assert.equal(view.prefix, key.slice(0, 13));
    assert.equal(view.revoked_at, null);
    assert.ok(!JSON.stringify(listed.body).includes(key.slice(14)), 'the secret part is never listed');
    // Only the hash is stored: the key's secret part is nowhere in the database file.
    const db = await readFile(join(server.dataDir, 'ragd.db'));
    assert.ok(!db.includes(Buffer.from(key)), 'the key is not stored in the clear');

    // Another tenant's admin path cannot revoke it.
    await tenantWithKey(url, 'delta');
    assert.equal((await authed(`${url}/v1/admin/tenants/delta/keys/${view.id}`, ADMIN_KEY, { method: 'DELETE' })).status, 404);
    assert.equal((await authed(`${url}/v1/kbs`, key)).status, 200);

    assert.equal((await authed(`${url}/v1/admin/tenants/gamma/keys/${view.id}`, ADMIN_KEY, { method: 'DELETE' })).status, 204);
    const after = await authed(`${url}/v1/kbs`, key);
    assert.equal(after.status, 401, 'revoked at once');
    const relisted = await authed(`${url}/v1/admin/tenants/gamma/keys`, ADMIN_KEY);
    assert.notEqual(relisted.body.keys[0].revoked_at, null);
    assert.equal((await authed(`${url}/v1/admin/tenants/gamma/keys/${view.id}`, ADMIN_KEY, { method: 'DELETE' })).status, 404);
  });

  it('admin keys: minted, listed and revoked like tenant keys; RAGD_ADMIN_KEY keeps working', async () => {
    const created = await authed(`${url}/v1/admin/keys`, ADMIN_KEY, jsonInit('POST', { name: 'ops' }));
    assert.equal(created.status, 201);
    assert.equal(created.body.tenant, null);
    const second = created.body.key as string;
    assert.equal((await authed(`${url}/v1/admin/tenants`, second)).status, 200);
    assert.equal((await authed(`${url}/v1/kbs`, second)).status, 401, 'an admin key opens no tenant');
    const listed = await authed(`${url}/v1/admin/keys`, second);
    assert.deepEqual(listed.body.keys.map((k: { prefix: string }) => k.prefix), [second.slice(0, 13)]);
    assert.equal((await authed(`${url}/v1/admin/keys/${created.body.id}`, second, { method: 'DELETE' })).status, 204);
    assert.equal((await authed(`${url}/v1/admin/tenants`, second)).status, 401, 'revoked at once');
    assert.equal((await authed(`${url}/v1/admin/tenants`, ADMIN_KEY)).status, 200);
  });

  it('keys of a deleted tenant stop working', async () => {
    const key = await tenantWithKey(url, 'epsilon');
    assert.equal((await authed(`${url}/v1/admin/tenants/epsilon`, ADMIN_KEY, { method: 'DELETE' })).status, 204);
    assert.equal((await authed(`${url}/v1/kbs`, key)).status, 401);
  });

  it('stores provider keys sealed and never shows them', async () => {
    await tenantWithKey(url, 'zeta');
    const secret = 'sk-provider-secret-9f8e7d';
    const patched = await authed(
      `${url}/v1/admin/tenants/zeta/settings`,
      ADMIN_KEY,
      jsonInit('PATCH', { llm: { base_url: 'http://127.0.0.1:9/v1', model: 'm', api_key: secret }, limits: { requests_per_minute: 60 } }),
    );
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual(patched.body.llm, { base_url: 'http://127.0.0.1:9/v1', model: 'm', api_key_set: true });
    assert.equal(patched.body.limits.requests_per_minute, 60);
    assert.ok(!JSON.stringify(patched.body).includes(secret));
    const db = await readFile(join(server.dataDir, 'ragd.db'));
    assert.ok(!db.includes(Buffer.from(secret)), 'the provider key is sealed at rest');
    // Changing the model alone keeps the stored key.
    const kept = await authed(`${url}/v1/admin/tenants/zeta/settings`, ADMIN_KEY, jsonInit('PATCH', { llm: { base_url: 'http://127.0.0.1:9/v1', model: 'm2' } }));
    assert.equal(kept.body.llm.api_key_set, true);
    const limits = await server.server.runtime.tenancy.limits.limitsFor('zeta');
    assert.equal(limits.requestsPerMinute, 60);
    assert.equal(limits.pipelineWeight, 1, 'unset limits come from the defaults');
    const cleared = await authed(`${url}/v1/admin/tenants/zeta/settings`, ADMIN_KEY, jsonInit('PATCH', { llm: null, limits: null }));
    assert.deepEqual(cleared.body, { llm: null, rerank: null, embed: null, limits: {} });
    const bad = await authed(`${url}/v1/admin/tenants/zeta/settings`, ADMIN_KEY, jsonInit('PATCH', { limits: { requests_per_minute: -1 } }));
    assert.equal(bad.status, 400);
  });
});

describe('secure by default', () => {
  it('runs open on loopback with nothing configured, as the default tenant', async () => {
    const server = await startTestServer();
    try {
      const r = await authed(`${server.url}/v1/kbs`, null);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.kbs.map((k: { id: string }) => k.id), ['default']);
      const admin = await authed(`${server.url}/v1/admin/tenants`, null);
      assert.equal(admin.status, 401, 'no admin API without an admin credential');
    } finally {
      await server.close();
    }
  });

  it('refuses to start beyond loopback without authentication', async () => {
    await assert.rejects(startTestServer({ RAGD_HOST: '0.0.0.0' }), /refusing to listen on 0\.0\.0\.0 without authentication/);
  });

  it('stored API keys end open mode, even with RAGD_ADMIN_KEY unset', async () => {
    const first = await startTestServer({ RAGD_ADMIN_KEY: ADMIN_KEY });
    const dataDir = first.dataDir;
    const key = await tenantWithKey(first.url, 'acme');
    await first.server.close();
    // Same data dir, no RAGD_ADMIN_KEY: stored keys exist, so the server is not open.
    const second = await startTestServer({ RAGD_DATA_DIR: dataDir });
    try {
      assert.equal((await authed(`${second.url}/v1/kbs`, null)).status, 401);
      assert.equal((await authed(`${second.url}/v1/kbs`, key)).status, 200);
    } finally {
      await second.close();
      await first.close();
    }
  });
});
