import type { DocType, DocumentStatus, PipelineStage, TaskKind, TaskStatus, TaskView } from '../../../domain/types.js';
import type { DocumentRecord, KbRecord } from '../../../ports/store.js';
import type { ApiKeyRecord, KeyRole, TenantRecord } from '../../../ports/tenants.js';

/** Rows as `pg` returns them (timestamptz as Date, jsonb parsed, int8 as number), and their records. */

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

export interface KbRow {
  tenant_id: string;
  id: string;
  name: string;
  embedder: string;
  embed_dim: number;
  version: number;
  created_at: Date;
}

export const toKb = (r: KbRow): KbRecord => ({
  tenantId: r.tenant_id,
  id: r.id,
  name: r.name,
  embedder: r.embedder,
  embedDim: r.embed_dim,
  version: r.version,
  createdAt: r.created_at.toISOString(),
});

export interface DocumentRow {
  id: string;
  tenant_id: string;
  kb_id: string;
  name: string;
  type: string;
  content_hash: string;
  bytes: number;
  blob_key: string;
  metadata: Record<string, unknown>;
  status: string;
  stage: string | null;
  error: string | null;
  chunks: number;
  task_id: string;
  created_at: Date;
  updated_at: Date;
  progress_done?: number | null;
  progress_total?: number | null;
}

export const toDocument = (r: DocumentRow): DocumentRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  kb: r.kb_id,
  name: r.name,
  type: r.type as DocType,
  status: r.status as DocumentStatus,
  stage: r.stage as PipelineStage | null,
  progress: { done: r.progress_done ?? 0, total: r.progress_total ?? 0 },
  error: r.error,
  chunks: r.chunks,
  bytes: r.bytes,
  content_hash: r.content_hash,
  metadata: r.metadata,
  task_id: r.task_id,
  blobKey: r.blob_key,
  created_at: r.created_at.toISOString(),
  updated_at: r.updated_at.toISOString(),
});

export interface TaskRow {
  id: string;
  kb_id: string;
  kind: string;
  status: string;
  stage: string | null;
  progress_done: number;
  progress_total: number;
  error: string | null;
  document_id: string | null;
  result: unknown;
  version: number;
  created_at: Date;
  updated_at: Date;
}

export const toTask = (r: TaskRow): TaskView => ({
  id: r.id,
  kind: r.kind as TaskKind,
  kb: r.kb_id,
  status: r.status as TaskStatus,
  stage: r.stage as PipelineStage | null,
  progress: { done: r.progress_done, total: r.progress_total },
  error: r.error,
  document_id: r.document_id,
  result: r.result ?? null,
  created_at: r.created_at.toISOString(),
  updated_at: r.updated_at.toISOString(),
  version: r.version,
});

export interface TenantRow {
  id: string;
  name: string;
  created_at: Date;
}

export const toTenant = (r: TenantRow): TenantRecord => ({ id: r.id, name: r.name, createdAt: r.created_at.toISOString() });

export interface ApiKeyRow {
  id: string;
  tenant_id: string | null;
  role: string;
  name: string;
  prefix: string;
  created_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

export const toApiKey = (r: ApiKeyRow): ApiKeyRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  role: r.role as KeyRole,
  name: r.name,
  prefix: r.prefix,
  createdAt: r.created_at.toISOString(),
  revokedAt: iso(r.revoked_at),
  lastUsedAt: iso(r.last_used_at),
});
