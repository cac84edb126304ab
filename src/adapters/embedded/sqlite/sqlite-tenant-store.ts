import type { ApiKeyRecord, NewApiKey, StoredTenantSettings, TenantRecord, TenantStore } from '../../../ports/tenants.js';
import { openDatabase, type Db } from './open.js';
import { toApiKey, toTenant, type ApiKeyRow, type TenantRow } from './tenant-rows.js';
import type { SqliteWriter } from './writer.js';
import { prepareCached } from './statements.js';

/** A key's last use is written at most this often: a busy key must not cost a write per request. */
const TOUCH_EVERY_MS = 60_000;

/**
 * Tenants, keys and settings in the ragd database. Writes go through the store's writer thread;
 * reads use a read-only connection of their own (key lookups run on every request, and a
 * prepared statement on a WAL reader never waits for the writer).
 */
export class SqliteTenantStore implements TenantStore {
  private readonly db: Db;
  private readonly byHash;
  private readonly touched = new Map<string, number>();

  constructor(
    dbPath: string,
    private readonly writer: SqliteWriter,
    private readonly defaultKb: { embedder: string; embedDim: number },
  ) {
    this.db = openDatabase(dbPath, { readonly: true });
    this.byHash = this.db.prepare('SELECT * FROM api_keys WHERE hash = ? AND revoked_at IS NULL');
  }

  close(): void {
    this.db.close();
  }

  async createTenant(t: { id: string; name: string; defaultKb?: { embedder: string; embedDim: number } }): Promise<TenantRecord | null> {
    return this.writer.call('createTenant', { id: t.id, name: t.name, defaultKb: t.defaultKb ?? this.defaultKb });
  }

  async getTenant(id: string): Promise<TenantRecord | null> {
    const row = prepareCached(this.db, 'SELECT id, name, created_at FROM tenants WHERE id = ?').get(id) as TenantRow | undefined;
    return row ? toTenant(row) : null;
  }

  async listTenants(): Promise<TenantRecord[]> {
    return (prepareCached(this.db, 'SELECT id, name, created_at FROM tenants ORDER BY id').all() as TenantRow[]).map(toTenant);
  }

  async deleteTenant(id: string): Promise<'deleted' | 'not_found' | 'has_kbs'> {
    return this.writer.call('deleteTenant', { id });
  }

  async createKey(k: NewApiKey): Promise<ApiKeyRecord> {
    return this.writer.call('createKey', k);
  }

  async findKeyByHash(hash: string): Promise<ApiKeyRecord | null> {
    const row = this.byHash.get(hash) as ApiKeyRow | undefined;
    return row ? toApiKey(row) : null;
  }

  async listKeys(tenantId: string | null): Promise<ApiKeyRecord[]> {
    const rows = prepareCached(this.db, 'SELECT * FROM api_keys WHERE tenant_id IS ? ORDER BY created_at, id').all(tenantId) as ApiKeyRow[];
    return rows.map(toApiKey);
  }

  async revokeKey(tenantId: string | null, keyId: string): Promise<boolean> {
    return this.writer.call('revokeKey', { tenantId, keyId });
  }

  async touchKey(keyId: string): Promise<void> {
    const now = Date.now();
    if (now - (this.touched.get(keyId) ?? 0) < TOUCH_EVERY_MS) return;
    this.touched.set(keyId, now);
    await this.writer.call('touchKey', { keyId });
  }

  async hasAnyKey(): Promise<boolean> {
    return prepareCached(this.db, 'SELECT 1 FROM api_keys LIMIT 1').get() !== undefined;
  }

  async getSettings(tenantId: string): Promise<StoredTenantSettings> {
    const json = prepareCached(this.db, 'SELECT settings FROM tenants WHERE id = ?').pluck().get(tenantId) as string | undefined;
    return json ? (JSON.parse(json) as StoredTenantSettings) : {};
  }

  async putSettings(tenantId: string, settings: StoredTenantSettings): Promise<void> {
    await this.writer.call('putTenantSettings', { tenantId, json: JSON.stringify(settings) });
  }
}
