import type { TenantLimits } from './tenant-limits.js';

/**
 * Tenants, their API keys and their settings. The embedded adapter keeps them in the SQLite
 * database next to the KBs; services never see how. Secrets never reach this port in the clear:
 * API keys arrive as hashes, provider keys as ciphertext.
 */

export interface TenantRecord {
  id: string;
  name: string;
  createdAt: string;
}

/** `admin` keys manage tenants; `tenant` keys act inside their tenant only. */
export type KeyRole = 'admin' | 'tenant';

export interface ApiKeyRecord {
  id: string;
  /** null for admin keys. */
  tenantId: string | null;
  role: KeyRole;
  name: string;
  /** The public start of the key (`ragd_ab12cd34`): names it in logs and lists, reveals nothing. */
  prefix: string;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export interface NewApiKey {
  id: string;
  tenantId: string | null;
  role: KeyRole;
  name: string;
  prefix: string;
  /** SHA-256 of the whole key, hex. The key itself is never stored. */
  hash: string;
}

/** One remote model provider of a tenant; `apiKeyCipher` is the sealed key (see secret-box). */
export interface StoredProvider {
  baseUrl: string;
  model: string;
  apiKeyCipher: string | null;
}

/** An embedding provider also fixes the dimension of the vector space its KBs are built in. */
export interface StoredEmbedProvider extends StoredProvider {
  dim: number;
}

/** Everything a tenant may override; an absent part falls back to the server's configuration. */
export interface StoredTenantSettings {
  llm?: StoredProvider;
  rerank?: StoredProvider;
  embed?: StoredEmbedProvider;
  limits?: Partial<TenantLimits>;
}

export interface TenantStore {
  /** Creates the tenant with its `default` KB, built in `defaultKb`'s space (else the server's). */
  createTenant(t: { id: string; name: string; defaultKb?: { embedder: string; embedDim: number } }): Promise<TenantRecord | null>;
  getTenant(id: string): Promise<TenantRecord | null>;
  listTenants(): Promise<TenantRecord[]>;
  /**
   * Removes the tenant row, its keys and settings. Its KBs are removed by the caller first; one
   * created meanwhile leaves the tenant in place (`has_kbs`).
   */
  deleteTenant(id: string): Promise<'deleted' | 'not_found' | 'has_kbs'>;

  createKey(k: NewApiKey): Promise<ApiKeyRecord>;
  /** Active (not revoked) key by hash, or null. */
  findKeyByHash(hash: string): Promise<ApiKeyRecord | null>;
  listKeys(tenantId: string | null): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked; false when it does not exist in that tenant (or is already revoked). */
  revokeKey(tenantId: string | null, keyId: string): Promise<boolean>;
  /** Best effort: records when a key was last used (at most once a minute per key). */
  touchKey(keyId: string): Promise<void>;
  /** True when any credential (admin or tenant key, revoked or not) was ever created. */
  hasAnyKey(): Promise<boolean>;

  getSettings(tenantId: string): Promise<StoredTenantSettings>;
  putSettings(tenantId: string, settings: StoredTenantSettings): Promise<void>;
}
