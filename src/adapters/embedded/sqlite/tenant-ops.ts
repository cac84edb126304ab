import type { ApiKeyRecord, NewApiKey, TenantRecord } from '../../../ports/tenants.js';
import type { Db } from './open.js';
import { toApiKey, toTenant, type ApiKeyRow, type TenantRow } from './tenant-rows.js';
import { ensureTenantAndKb } from './write-ops.js';
import { prepareCached } from './statements.js';

/**
 * Tenant and API-key writes, run on the writer thread like every other write. The reads live in
 * sqlite-tenant-store.ts on the event-loop thread's read connection.
 */

const nowIso = () => new Date().toISOString();

/** A new tenant comes with its `default` KB, so `ragd ingest` works with a fresh key at once. */
export function createTenant(
  db: Db,
  a: { id: string; name: string; defaultKb: { embedder: string; embedDim: number } },
): TenantRecord | null {
  return db.transaction(() => {
    if (prepareCached(db, 'SELECT 1 FROM tenants WHERE id = ?').get(a.id)) return null;
    prepareCached(db, 'INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)').run(a.id, a.name, nowIso());
    ensureTenantAndKb(db, { tenantId: a.id, kbId: 'default', name: 'default', ...a.defaultKb });
    return toTenant(prepareCached(db, 'SELECT id, name, created_at FROM tenants WHERE id = ?').get(a.id) as TenantRow);
  }).immediate();
}

/** Revokes the tenant's keys (they stay for audit) and removes the tenant, once its KBs are gone. */
export function deleteTenant(db: Db, a: { id: string }): 'deleted' | 'not_found' | 'has_kbs' {
  return db.transaction(() => {
    if (prepareCached(db, 'SELECT 1 FROM kbs WHERE tenant_id = ? LIMIT 1').get(a.id)) return 'has_kbs';
    prepareCached(db, 'UPDATE api_keys SET revoked_at = ? WHERE tenant_id = ? AND revoked_at IS NULL').run(nowIso(), a.id);
    // Query-job tasks outlive their KB; a tenant later created under the same id must not see them.
    prepareCached(db, 'DELETE FROM tasks WHERE tenant_id = ?').run(a.id);
    return prepareCached(db, 'DELETE FROM tenants WHERE id = ?').run(a.id).changes > 0 ? 'deleted' : 'not_found';
  }).immediate();
}

export function createKey(db: Db, k: NewApiKey): ApiKeyRecord {
  prepareCached(
    db,
    'INSERT INTO api_keys (id, tenant_id, role, name, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  ).run(k.id, k.tenantId, k.role, k.name, k.prefix, k.hash, nowIso());
  return toApiKey(prepareCached(db, 'SELECT * FROM api_keys WHERE id = ?').get(k.id) as ApiKeyRow);
}

export function revokeKey(db: Db, a: { tenantId: string | null; keyId: string }): boolean {
  return (
    prepareCached(db, 'UPDATE api_keys SET revoked_at = ? WHERE id = ? AND tenant_id IS ? AND revoked_at IS NULL')
      .run(nowIso(), a.keyId, a.tenantId).changes > 0
  );
}

export function touchKey(db: Db, a: { keyId: string }): void {
  prepareCached(db, 'UPDATE api_keys SET last_used_at = ? WHERE id = ?').run(nowIso(), a.keyId);
}

export function putTenantSettings(db: Db, a: { tenantId: string; json: string }): boolean {
  return prepareCached(db, 'UPDATE tenants SET settings = ? WHERE id = ?').run(a.json, a.tenantId).changes > 0;
}
