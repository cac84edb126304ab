import type { Pool } from 'pg';
import type { ApiKeyRecord, NewApiKey, StoredTenantSettings, TenantRecord, TenantStore } from '../../../ports/tenants.js';
import { inTransaction } from './pool.js';
import { toApiKey, toTenant, type ApiKeyRow, type TenantRow } from './rows.js';
import * as SQL from './sql.js';

/** A key's last use is written at most this often per process: a busy key must not cost a write per request. */
const TOUCH_EVERY_MS = 60_000;

/** Tenants, keys and settings in the shared PostgreSQL database (same rules as SqliteTenantStore). */
export class PostgresTenantStore implements TenantStore {
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly pool: Pool,
    private readonly defaultKb: { embedder: string; embedDim: number },
  ) {}

  /** A new tenant comes with its `default` KB, so `ragd ingest` works with a fresh key at once. */
  async createTenant(t: { id: string; name: string; defaultKb?: { embedder: string; embedDim: number } }): Promise<TenantRecord | null> {
    const kb = t.defaultKb ?? this.defaultKb;
    return inTransaction(this.pool, async (c) => {
      const row = (
        await c.query<TenantRow>('INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING id, name, created_at', [t.id, t.name])
      ).rows[0];
      if (!row) return null;
      await c.query(SQL.INSERT_KB, [t.id, 'default', 'default', kb.embedder, kb.embedDim, 'auto']);
      return toTenant(row);
    });
  }

  async getTenant(id: string): Promise<TenantRecord | null> {
    const row = (await this.pool.query<TenantRow>('SELECT id, name, created_at FROM tenants WHERE id = $1', [id])).rows[0];
    return row ? toTenant(row) : null;
  }

  async listTenants(): Promise<TenantRecord[]> {
    return (await this.pool.query<TenantRow>('SELECT id, name, created_at FROM tenants ORDER BY id')).rows.map(toTenant);
  }

  /** Revokes the tenant's keys (they stay for audit) and removes the tenant, once its KBs are gone. */
  async deleteTenant(id: string): Promise<'deleted' | 'not_found' | 'has_kbs'> {
    return inTransaction(this.pool, async (c) => {
      // Locks the tenant row: a KB created meanwhile (its foreign key) waits for this to finish.
      if ((await c.query('SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE', [id])).rowCount === 0) return 'not_found';
      if ((await c.query('SELECT 1 FROM kbs WHERE tenant_id = $1 LIMIT 1', [id])).rowCount !== 0) return 'has_kbs';
      await c.query('UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1 AND revoked_at IS NULL', [id]);
      // Query-job tasks outlive their KB; a tenant later created under the same id must not see them.
      await c.query('DELETE FROM tasks WHERE tenant_id = $1', [id]);
      await c.query('DELETE FROM tenant_usage WHERE tenant_id = $1', [id]);
      await c.query('DELETE FROM tenants WHERE id = $1', [id]);
      return 'deleted';
    });
  }

  async createKey(k: NewApiKey): Promise<ApiKeyRecord> {
    const row = (
      await this.pool.query<ApiKeyRow>(
        'INSERT INTO api_keys (id, tenant_id, role, name, prefix, hash) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *',
        [k.id, k.tenantId, k.role, k.name, k.prefix, k.hash],
      )
    ).rows[0]!;
    return toApiKey(row);
  }

  async findKeyByHash(hash: string): Promise<ApiKeyRecord | null> {
    const row = (await this.pool.query<ApiKeyRow>('SELECT * FROM api_keys WHERE hash = $1 AND revoked_at IS NULL', [hash])).rows[0];
    return row ? toApiKey(row) : null;
  }

  async listKeys(tenantId: string | null): Promise<ApiKeyRecord[]> {
    const rows = await this.pool.query<ApiKeyRow>('SELECT * FROM api_keys WHERE tenant_id IS NOT DISTINCT FROM $1 ORDER BY created_at, id', [tenantId]);
    return rows.rows.map(toApiKey);
  }

  async revokeKey(tenantId: string | null, keyId: string): Promise<boolean> {
    const r = await this.pool.query(
      'UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND tenant_id IS NOT DISTINCT FROM $2 AND revoked_at IS NULL',
      [keyId, tenantId],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async touchKey(keyId: string): Promise<void> {
    const now = Date.now();
    if (now - (this.touched.get(keyId) ?? 0) < TOUCH_EVERY_MS) return;
    this.touched.set(keyId, now);
    await this.pool.query('UPDATE api_keys SET last_used_at = now() WHERE id = $1', [keyId]);
  }

  async hasAnyKey(): Promise<boolean> {
    return ((await this.pool.query('SELECT 1 FROM api_keys LIMIT 1')).rowCount ?? 0) > 0;
  }

  async getSettings(tenantId: string): Promise<StoredTenantSettings> {
    const row = (await this.pool.query<{ settings: string }>('SELECT settings FROM tenants WHERE id = $1', [tenantId])).rows[0];
    return row ? (JSON.parse(row.settings) as StoredTenantSettings) : {};
  }

  async putSettings(tenantId: string, settings: StoredTenantSettings): Promise<void> {
    await this.pool.query('UPDATE tenants SET settings = $1::jsonb WHERE id = $2', [JSON.stringify(settings), tenantId]);
  }
}
