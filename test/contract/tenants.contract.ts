/**
 * The TenantStore port's conformance suite; every adapter passes it unchanged.
 * Runners: test/integration/store-conformance.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../../src/ports/store.js';
import type { TenantStore } from '../../src/ports/tenants.js';

export interface TenantStoreUnderTest {
  tenants: TenantStore;
  /** The Store on the same database: a tenant's KBs live there. */
  store: Store;
  close(): Promise<void>;
}

export function describeTenantStore(name: string, make: () => Promise<TenantStoreUnderTest>): void {
  describe(`TenantStore conformance: ${name}`, () => {
    let sut: TenantStoreUnderTest;
    before(async () => {
      sut = await make();
    });
    after(async () => sut.close());

    const key = (id: string, tenantId: string | null, hash: string) => ({
      id, tenantId, role: tenantId === null ? ('admin' as const) : ('tenant' as const), name: id, prefix: `ragd_${id}`, hash,
    });

    it('creates a tenant once, with its default KB', async () => {
      const { tenants, store } = sut;
      const t = await tenants.createTenant({ id: 'acme', name: 'Acme 公司', defaultKb: { embedder: 'hash:16', embedDim: 16 } });
      assert.equal(t?.name, 'Acme 公司');
      assert.equal(await tenants.createTenant({ id: 'acme', name: 'again' }), null);
      assert.equal((await tenants.getTenant('acme'))?.id, 'acme');
      assert.ok((await tenants.listTenants()).some((x) => x.id === 'acme'));
      assert.equal((await store.getKb({ tenantId: 'acme', kbId: 'default' }))?.embedDim, 16);
    });

    it('finds active keys by hash only, lists them per tenant, and revokes within the tenant', async () => {
      const { tenants } = sut;
      assert.equal(await tenants.hasAnyKey(), false);
      const k = await tenants.createKey(key('k1', 'acme', 'hash-1'));
      await tenants.createKey(key('adm', null, 'hash-admin'));
      assert.equal(await tenants.hasAnyKey(), true);
      assert.equal((await tenants.findKeyByHash('hash-1'))?.id, k.id);
      assert.equal(await tenants.findKeyByHash('hash-none'), null);
      assert.deepEqual((await tenants.listKeys('acme')).map((x) => x.id), ['k1']);
      assert.deepEqual((await tenants.listKeys(null)).map((x) => x.id), ['adm']);
      assert.equal(await tenants.revokeKey('other', 'k1'), false, 'not across tenants');
      assert.equal(await tenants.revokeKey('acme', 'k1'), true);
      assert.equal(await tenants.revokeKey('acme', 'k1'), false, 'already revoked');
      assert.equal(await tenants.findKeyByHash('hash-1'), null);
      assert.ok((await tenants.listKeys('acme'))[0]!.revokedAt, 'a revoked key stays listed');
      await tenants.touchKey('adm');
      assert.ok((await tenants.listKeys(null))[0]!.lastUsedAt);
    });

    it('stores settings per tenant', async () => {
      const { tenants } = sut;
      assert.deepEqual(await tenants.getSettings('acme'), {});
      const settings = { llm: { baseUrl: 'http://127.0.0.1:1/v1', model: 'm', apiKeyCipher: 'sealed' }, limits: { requestsPerMinute: 5 } };
      await tenants.putSettings('acme', settings);
      assert.deepEqual(await tenants.getSettings('acme'), settings);
      assert.deepEqual(await tenants.getSettings('default'), {});
    });

    it('refuses to delete a tenant that still has KBs, then deletes it and revokes its keys', async () => {
      const { tenants, store } = sut;
      await tenants.createKey(key('k2', 'acme', 'hash-2'));
      assert.equal(await tenants.deleteTenant('acme'), 'has_kbs');
      assert.equal((await tenants.getTenant('acme'))?.id, 'acme', 'the tenant stays');
      assert.equal((await tenants.findKeyByHash('hash-2'))?.id, 'k2', 'and so do its keys');
      await store.deleteKb({ tenantId: 'acme', kbId: 'default' });
      assert.equal(await tenants.deleteTenant('acme'), 'deleted');
      assert.equal(await tenants.getTenant('acme'), null);
      assert.equal(await tenants.findKeyByHash('hash-2'), null);
      assert.equal(await tenants.deleteTenant('acme'), 'not_found');
    });
  });
}
