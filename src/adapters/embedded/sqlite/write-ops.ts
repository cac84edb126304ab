import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { DocumentOcr, OcrMode, Scope } from '../../../domain/types.js';
import type { DocumentRecord, DocumentTransition, IndexCommit, KbRecord, NewDocument } from '../../../ports/store.js';
import type { TaskView } from '../../../domain/types.js';
import { quotaRefusal, type StorageUsage } from '../../../domain/storage-quota.js';
import type { Db } from './open.js';
import { insertJob } from './queue-ops.js';
import { DOCUMENT_SELECT, toDocument, toKb, toTask, type DocumentRow, type KbRow, type TaskRow } from './rows.js';
import { ensureKbFts, FTS_FORMAT, ftsTable, ftsValues } from './kb-fts.js';
import { ensureVectorTable, kbKey, vectorTable } from './schema.js';
import { readChunks } from '../../../services/pipeline/stage-lines.js';
import { prepareCached } from './statements.js';

/**
 * Every write the store makes. These run on the writer thread (see writer-thread.ts), the only
 * connection that writes, so the event loop never waits for a lock or a large transaction.
 */

const nowIso = () => new Date().toISOString();

export function ensureTenantAndKb(db: Db, a: { tenantId: string; kbId: string; name: string; embedder: string; embedDim: number; ocr?: OcrMode }): KbRecord {
  const now = nowIso();
  prepareCached(db, 'INSERT OR IGNORE INTO tenants (id, name, created_at) VALUES (?, ?, ?)').run(a.tenantId, a.tenantId, now);
  prepareCached(
    db,
    'INSERT OR IGNORE INTO kbs (tenant_id, id, name, embedder, embed_dim, ocr, version, created_at, fts_format) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)',
  ).run(a.tenantId, a.kbId, a.name, a.embedder, a.embedDim, a.ocr ?? 'auto', now, FTS_FORMAT);
  ensureVectorTable(db, a.embedDim);
  ensureKbFts(db, a.tenantId, a.kbId);
  return toKb(prepareCached(db, 'SELECT * FROM kbs WHERE tenant_id = ? AND id = ?').get(a.tenantId, a.kbId) as KbRow);
}

export function createKb(db: Db, a: { tenantId: string; id: string; name: string; embedder: string; embedDim: number; ocr?: OcrMode }): KbRecord | null {
  return db.transaction(() => {
    const exists = prepareCached(db, 'SELECT 1 FROM kbs WHERE tenant_id = ? AND id = ?').get(a.tenantId, a.id);
    if (exists) return null;
    return ensureTenantAndKb(db, { tenantId: a.tenantId, kbId: a.id, name: a.name, embedder: a.embedder, embedDim: a.embedDim, ...(a.ocr ? { ocr: a.ocr } : {}) });
  }).immediate();
}

/** Where a KB's chunks are indexed: its vector dimension and its full-text table (null: none). */
interface KbIndex {
  dim: number;
  fts: string | null;
}

/** `fts: null` skips the full-text rows (deleting a whole KB drops its table instead). */
function removeChunks(db: Db, documentId: string, index: KbIndex): number {
  const rowids = prepareCached(db, 'SELECT rowid FROM chunks WHERE document_id = ?').pluck().all(documentId) as number[];
  if (rowids.length === 0) return 0;
  const delFts = index.fts === null ? null : prepareCached(db, `DELETE FROM ${index.fts} WHERE rowid = ?`);
  const delVec = prepareCached(db, `DELETE FROM ${vectorTable(index.dim)} WHERE rowid = ?`);
  for (const rowid of rowids) {
    delFts?.run(rowid);
    delVec.run(BigInt(rowid));
  }
  prepareCached(db, 'DELETE FROM chunks WHERE document_id = ?').run(documentId);
  return rowids.length;
}

function bumpKbVersion(db: Db, tenantId: string, kbId: string): void {
  prepareCached(db, 'UPDATE kbs SET version = version + 1 WHERE tenant_id = ? AND id = ?').run(tenantId, kbId);
}

function kbIndex(db: Db, tenantId: string, kbId: string): KbIndex | null {
  const row = prepareCached(db, 'SELECT embed_dim, fts_no FROM kbs WHERE tenant_id = ? AND id = ?').get(tenantId, kbId) as
    | { embed_dim: number; fts_no: number | null }
    | undefined;
  return row ? { dim: row.embed_dim, fts: row.fts_no === null ? null : ftsTable(row.fts_no) } : null;
}

export function deleteKb(db: Db, a: { tenantId: string; kbId: string }): { blobKeys: string[]; documentIds: string[] } | null {
  return db.transaction(() => {
    const index = kbIndex(db, a.tenantId, a.kbId);
    if (index === null) return null;
    const docs = prepareCached(db, 'SELECT id, blob_key FROM documents WHERE tenant_id = ? AND kb_id = ?')
      .all(a.tenantId, a.kbId) as { id: string; blob_key: string }[];
    for (const d of docs) removeChunks(db, d.id, { dim: index.dim, fts: null });
    if (index.fts !== null) db.exec(`DROP TABLE ${index.fts}`);
    prepareCached(db, 'DELETE FROM jobs WHERE tenant_id = ? AND kb_id = ?').run(a.tenantId, a.kbId);
    prepareCached(db, 'DELETE FROM documents WHERE tenant_id = ? AND kb_id = ?').run(a.tenantId, a.kbId);
    prepareCached(db, 'DELETE FROM tasks WHERE tenant_id = ? AND kb_id = ?').run(a.tenantId, a.kbId);
    prepareCached(db, 'DELETE FROM kbs WHERE tenant_id = ? AND id = ?').run(a.tenantId, a.kbId);
    return { blobKeys: docs.map((d) => d.blob_key), documentIds: docs.map((d) => d.id) };
  }).immediate();
}

function getDocumentRow(db: Db, where: string, ...params: unknown[]): DocumentRecord | null {
  const row = prepareCached(db, `${DOCUMENT_SELECT} WHERE ${where}`).get(...params) as DocumentRow | undefined;
  return row ? toDocument(row) : null;
}

function getTaskRow(db: Db, id: string): TaskView | null {
  const row = prepareCached(db, 'SELECT * FROM tasks WHERE id = ?').get(id) as TaskRow | undefined;
  return row ? toTask(row) : null;
}

/** Inserts document + ingest task + its first (parse) job in one transaction, deduplicating by content. */
export function createDocument(
  db: Db,
  a: { doc: NewDocument; maxAttempts: number },
): { document: DocumentRecord; duplicate: boolean } | { refused: StorageUsage } {
  const { doc } = a;
  return db.transaction(() => {
    const existing = getDocumentRow(
      db,
      'd.tenant_id = ? AND d.kb_id = ? AND d.content_hash = ?',
      doc.scope.tenantId,
      doc.scope.kbId,
      doc.contentHash,
    );
    if (existing) return { document: existing, duplicate: true };
    const metadata = JSON.stringify(doc.metadata);
    if (doc.quota) {
      // In the insert's transaction, so concurrent uploads cannot together overshoot the quota.
      // Stored bytes are the file's plus its metadata's (as the usage triggers count them).
      const usage = tenantUsage(db, { tenantId: doc.scope.tenantId });
      const adding = { documents: 1, bytes: doc.bytes + Buffer.byteLength(metadata, 'utf8') };
      if (quotaRefusal(usage, doc.quota, adding)) return { refused: usage };
    }
    const now = nowIso();
    prepareCached(
      db,
      `INSERT INTO tasks (id, tenant_id, kb_id, kind, status, stage, progress_done, progress_total, document_id, created_at, updated_at)
       VALUES (?, ?, ?, 'ingest', 'queued', NULL, 0, 5, ?, ?, ?)`,
    ).run(doc.taskId, doc.scope.tenantId, doc.scope.kbId, doc.id, now, now);
    prepareCached(
      db,
      `INSERT INTO documents (id, tenant_id, kb_id, name, type, content_hash, bytes, blob_key, metadata, ocr, status, stage, task_id, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', NULL, ?, ?, ?)`,
    ).run(
      doc.id, doc.scope.tenantId, doc.scope.kbId, doc.name, doc.type, doc.contentHash, doc.bytes, doc.blobKey,
      metadata, JSON.stringify({ mode: doc.ocr ?? 'auto' }), doc.taskId, now, now,
    );
    insertJob(db, {
      job: { scope: doc.scope, documentId: doc.id, taskId: doc.taskId, stage: 'parse', traceContext: doc.traceContext ?? null },
      maxAttempts: a.maxAttempts,
    });
    return { document: getDocumentRow(db, 'd.id = ?', doc.id)!, duplicate: false };
  }).immediate();
}

/** Kept by triggers on `documents` (schema migration 2). */
export function tenantUsage(db: Db, a: { tenantId: string }): StorageUsage {
  const row = prepareCached(db, 'SELECT documents, bytes FROM tenant_usage WHERE tenant_id = ?').get(a.tenantId) as StorageUsage | undefined;
  return row ?? { documents: 0, bytes: 0 };
}

export function deleteDocument(db: Db, a: { tenantId: string; kbId: string; id: string }): DocumentRecord | null {
  return db.transaction(() => {
    const doc = getDocumentRow(db, 'd.tenant_id = ? AND d.kb_id = ? AND d.id = ?', a.tenantId, a.kbId, a.id);
    if (!doc) return null;
    const index = kbIndex(db, a.tenantId, a.kbId);
    const removed = index === null ? 0 : removeChunks(db, a.id, index);
    prepareCached(db, 'DELETE FROM jobs WHERE document_id = ?').run(a.id);
    prepareCached(db, 'DELETE FROM documents WHERE id = ?').run(a.id);
    // The task stays readable so anyone following it learns what happened.
    prepareCached(
      db,
      `UPDATE tasks SET status = CASE WHEN status = 'succeeded' THEN status ELSE 'failed' END,
         error = CASE WHEN status = 'succeeded' THEN error ELSE 'cancelled: the document was deleted' END,
         version = version + 1, updated_at = ? WHERE id = ?`,
    ).run(nowIso(), doc.task_id);
    if (removed > 0 || doc.status === 'ready') bumpKbVersion(db, a.tenantId, a.kbId);
    return doc;
  }).immediate();
}

export function transition(db: Db, t: DocumentTransition): TaskView | null {
  return db.transaction(() => {
    const now = nowIso();
    const changed = prepareCached(db, 'UPDATE documents SET status = ?, stage = ?, error = ?, updated_at = ? WHERE id = ? AND tenant_id = ?')
      .run(t.status, t.stage, t.error ?? null, now, t.documentId, t.scope.tenantId).changes;
    if (changed === 0) return null;
    prepareCached(
      db,
      `UPDATE tasks SET status = ?, stage = ?, progress_done = ?, progress_total = ?, error = ?,
         version = version + 1, updated_at = ? WHERE id = ?`,
    ).run(t.taskStatus, t.stage, t.progress.done, t.progress.total, t.error ?? null, now, t.taskId);
    return getTaskRow(db, t.taskId);
  }).immediate();
}

/**
 * The one transaction that makes a document searchable: old chunks out, new chunks, full-text
 * rows and vectors in, document ready, KB version bumped. A crash before COMMIT leaves nothing;
 * a rerun after COMMIT replaces the same rows, so there is never a duplicate or a half.
 * The chunks and their vectors are read from the stage files a piece at a time inside it, so a
 * document of any size commits in bounded memory.
 */
export function commitIndex(db: Db, c: IndexCommit): { task: TaskView; chunks: number } | null {
  const fd = openSync(c.vectorsPath, 'r');
  try {
    return commitIndexFrom(db, c, fd);
  } finally {
    closeSync(fd);
  }
}

function commitIndexFrom(db: Db, c: IndexCommit, vectorsFd: number): { task: TaskView; chunks: number } | null {
  const vectorBytes = fstatSync(vectorsFd).size;
  const row = new Float32Array(c.embedDim);
  const rowBytes = new Uint8Array(row.buffer);
  return db.transaction(() => {
    const doc = getDocumentRow(db, 'd.id = ? AND d.tenant_id = ? AND d.kb_id = ?', c.documentId, c.scope.tenantId, c.scope.kbId);
    if (!doc) return null;
    const index = kbIndex(db, c.scope.tenantId, c.scope.kbId);
    if (index?.dim !== c.embedDim) throw new Error(`KB expects ${index?.dim}-dimensional vectors, got ${c.embedDim}`);
    const { dim } = index;
    removeChunks(db, c.documentId, index);
    const table = ensureVectorTable(db, dim);
    // Every KB gets its table when created (or by migration 5); the fallback only guards that.
    const fts = index.fts ?? ensureKbFts(db, c.scope.tenantId, c.scope.kbId);
    const insChunk = prepareCached(
      db,
      `INSERT INTO chunks (id, tenant_id, kb_id, document_id, ordinal, text, heading_path, page, token_count, ocr_confidence)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insFts = prepareCached(db, `INSERT INTO ${fts} (rowid, title, heading, body) VALUES (?, ?, ?, ?)`);
    const insVec = prepareCached(db, `INSERT INTO ${table} (rowid, kb_key, embedding) VALUES (?, ?, ?)`);
    const key = kbKey(c.scope.tenantId, c.scope.kbId);
    let count = 0;
    // Any mismatch throws inside the transaction, which then leaves nothing behind.
    const mismatch = () => new Error(`vector file holds ${vectorBytes / (dim * 4)} vectors for more than ${count} chunks`);
    for (const d of readChunks(c.chunksPath)) {
      if (readSync(vectorsFd, rowBytes, 0, rowBytes.length, count * rowBytes.length) !== rowBytes.length) throw mismatch();
      const rowid = insChunk.run(
        `${c.documentId}-${d.ordinal}`, c.scope.tenantId, c.scope.kbId, c.documentId, d.ordinal, d.text,
        JSON.stringify(d.headingPath), d.page, d.tokenCount, d.ocrConfidence ?? null,
      ).lastInsertRowid;
      insFts.run(rowid, ...ftsValues(doc.name, d.headingPath, d.text));
      insVec.run(BigInt(rowid), key, row);
      count++;
    }
    if (count * rowBytes.length !== vectorBytes) {
      throw new Error(`vector file holds ${vectorBytes / (dim * 4)} vectors for ${count} chunks`);
    }
    const now = nowIso();
    prepareCached(db, `UPDATE documents SET status = 'ready', stage = NULL, error = NULL, chunks = ?, updated_at = ? WHERE id = ?`).run(
      count, now, c.documentId,
    );
    prepareCached(
      db,
      `UPDATE tasks SET status = 'succeeded', stage = NULL, progress_done = progress_total, error = NULL,
         version = version + 1, updated_at = ? WHERE id = ?`,
    ).run(now, c.taskId);
    bumpKbVersion(db, c.scope.tenantId, c.scope.kbId);
    return { task: getTaskRow(db, c.taskId)!, chunks: count };
  }).immediate();
}

export function createTask(
  db: Db,
  t: { id: string; tenantId: string; kbId: string; kind: string; expiresAt?: string },
): TaskView {
  const now = nowIso();
  prepareCached(
    db,
    `INSERT INTO tasks (id, tenant_id, kb_id, kind, status, progress_done, progress_total, created_at, updated_at, expires_at)
     VALUES (?, ?, ?, ?, 'queued', 0, 1, ?, ?, ?)`,
  ).run(t.id, t.tenantId, t.kbId, t.kind, now, now, t.expiresAt ?? null);
  return getTaskRow(db, t.id)!;
}

export function updateTask(
  db: Db,
  a: { tenantId: string; id: string; patch: Partial<Pick<TaskView, 'status' | 'stage' | 'progress' | 'error' | 'result'>> },
): TaskView | null {
  const sets: string[] = [];
  const params: unknown[] = [];
  const { patch } = a;
  if (patch.status !== undefined) (sets.push('status = ?'), params.push(patch.status));
  if (patch.stage !== undefined) (sets.push('stage = ?'), params.push(patch.stage));
  if (patch.error !== undefined) (sets.push('error = ?'), params.push(patch.error));
  if (patch.progress !== undefined) {
    sets.push('progress_done = ?', 'progress_total = ?');
    params.push(patch.progress.done, patch.progress.total);
  }
  if (patch.result !== undefined) (sets.push('result = ?'), params.push(JSON.stringify(patch.result)));
  sets.push('version = version + 1', 'updated_at = ?');
  params.push(nowIso(), a.id, a.tenantId);
  const changed = prepareCached(db, `UPDATE tasks SET ${sets.join(', ')} WHERE id = ? AND tenant_id = ?`).run(...params).changes;
  return changed === 0 ? null : getTaskRow(db, a.id);
}

export function purgeExpiredTasks(db: Db, a: { nowIso: string }): number {
  return prepareCached(db, `DELETE FROM tasks WHERE expires_at IS NOT NULL AND expires_at <= ? AND status IN ('succeeded', 'failed')`)
    .run(a.nowIso).changes;
}

/** The `ocr` stage's record of what it read: the document's mode stays, pages and engine are set. */
export function recordOcr(db: Db, a: { scope: Scope; documentId: string; ocr: DocumentOcr }): void {
  prepareCached(db, 'UPDATE documents SET ocr = ?, updated_at = ? WHERE id = ? AND tenant_id = ? AND kb_id = ?').run(
    JSON.stringify(a.ocr), nowIso(), a.documentId, a.scope.tenantId, a.scope.kbId,
  );
}
