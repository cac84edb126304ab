import type { ApiKeyRecord, KeyRole, TenantRecord } from '../../../ports/tenants.js';

/** Raw tenant and API-key rows, and their mapping to the port's records. */

export interface TenantRow {
  id: string;
  name: string;
  created_at: string;
}

export interface ApiKeyRow {
  id: string;
  tenant_id: string | null;
  role: string;
  name: string;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

export const toTenant = (r: TenantRow): TenantRecord => ({ id: r.id, name: r.name, createdAt: r.created_at });

export const toApiKey = (r: ApiKeyRow): ApiKeyRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  role: r.role as KeyRole,
  name: r.name,
  prefix: r.prefix,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
});
