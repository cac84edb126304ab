import type { DocType, DocumentOcr, DocumentStatus, OcrMode, PipelineStage, TaskKind, TaskStatus, TaskView } from '../../../domain/types.js';
import type { DocumentRecord, KbRecord } from '../../../ports/store.js';

/** Raw rows as SQLite returns them, and their mapping to the port's records. */

export interface KbRow {
  tenant_id: string;
  id: string;
  name: string;
  embedder: string;
  embed_dim: number;
  ocr: string;
  version: number;
  created_at: string;
}

export interface DocumentRow {
  seq: number;
  id: string;
  tenant_id: string;
  kb_id: string;
  name: string;
  type: string;
  content_hash: string;
  bytes: number;
  blob_key: string;
  metadata: string;
  ocr: string;
  status: string;
  stage: string | null;
  error: string | null;
  chunks: number;
  task_id: string;
  created_at: string;
  updated_at: string;
  progress_done?: number | null;
  progress_total?: number | null;
}

export interface TaskRow {
  id: string;
  tenant_id: string;
  kb_id: string;
  kind: string;
  status: string;
  stage: string | null;
  progress_done: number;
  progress_total: number;
  error: string | null;
  document_id: string | null;
  result: string | null;
  version: number;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
}

export function toKb(row: KbRow): KbRecord {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    name: row.name,
    embedder: row.embedder,
    embedDim: row.embed_dim,
    ocr: row.ocr as OcrMode,
    version: row.version,
    createdAt: row.created_at,
  };
}

export function toDocument(row: DocumentRow): DocumentRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    kb: row.kb_id,
    name: row.name,
    type: row.type as DocType,
    status: row.status as DocumentStatus,
    stage: row.stage as PipelineStage | null,
    progress: { done: row.progress_done ?? 0, total: row.progress_total ?? 0 },
    error: row.error,
    chunks: row.chunks,
    bytes: row.bytes,
    content_hash: row.content_hash,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    ocr: JSON.parse(row.ocr) as DocumentOcr,
    task_id: row.task_id,
    blobKey: row.blob_key,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export function toTask(row: TaskRow): TaskView {
  return {
    id: row.id,
    kind: row.kind as TaskKind,
    kb: row.kb_id,
    status: row.status as TaskStatus,
    stage: row.stage as PipelineStage | null,
    progress: { done: row.progress_done, total: row.progress_total },
    error: row.error,
    document_id: row.document_id,
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    created_at: row.created_at,
    updated_at: row.updated_at,
    version: row.version,
  };
}

/** Documents joined with their task's progress, so a listing shows both in one read. */
export const DOCUMENT_SELECT = `
  SELECT d.*, t.progress_done, t.progress_total
  FROM documents d LEFT JOIN tasks t ON t.id = d.task_id`;
