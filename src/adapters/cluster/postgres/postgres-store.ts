import { readFile } from 'node:fs/promises';
import { decodeCursor, encodeCursor } from '../../list-cursor.js';
import type { Pool, PoolClient } from 'pg';
import type { ChunkDraft, DocumentOcr, DocumentStatus, OcrMode, Scope, TaskView } from '../../../domain/types.js';
import { quotaRefusal, type StorageUsage } from '../../../domain/storage-quota.js';
import {
  InvalidCursorError,
  MAX_LIST_PAGE_BYTES,
  VectorSearchUnavailableError,
  type ChunkHit,
  type ChunkRecord,
  type DocumentRecord,
  type DocumentTransition,
  type IndexCommit,
  type KbRecord,
  type KbState,
  type ListDocumentsQuery,
  type NewDocument,
  type SearchFilter,
  type Store,
  type StoredChunk,
} from '../../../ports/store.js';
import { readChunksAsync } from '../../../services/pipeline/stage-lines.js';
import { migrate } from './migrator.js';
import { inTransaction, queryUnlessAborted } from './pool.js';
import { buildPostings } from './postings.js';
import { toDocument, toKb, toTask, type DocumentRow, type KbRow, type TaskRow } from './rows.js';
import { queryTerms } from './segment.js';
import * as SQL from './sql.js';
import { ensureVectorSupport, ensureVectorTable, vectorLiteral, vectorTable, type VectorSupport } from './vectors.js';

export interface PostgresStoreOptions {
  /** The embedder id and dimension new KBs (and `default`) are created with. */
  defaultEmbedder: string;
  embedDim: number;
  maxAttempts: number;
}

/** BM25 field weights (title, heading path, body): the embedded adapter's DEFAULT_BM25_WEIGHTS. */
const BM25_WEIGHTS = [2, 1, 1] as const;

const noDocuments = (): Record<DocumentStatus, number> => ({
  queued: 0, parsing: 0, recognizing: 0, chunking: 0, embedding: 0, indexing: 0, ready: 0, failed: 0,
});

const METADATA_KEY = /^[A-Za-z0-9_.-]{1,64}$/;


interface HitRow {
  id: string;
  document_id: string;
  name: string;
  ordinal: number;
  text: string;
  heading_path: string;
  page: number | null;
  ocr_confidence: number | null;
  score: number;
}

const toHit = (r: HitRow): ChunkHit => ({
  chunkId: r.id,
  documentId: r.document_id,
  documentName: r.name,
  ordinal: r.ordinal,
  text: r.text,
  headingPath: JSON.parse(r.heading_path) as string[],
  page: r.page,
  ocrConfidence: r.ocr_confidence,
  score: r.score,
});

/**
 * The cluster store: every API node and worker shares one PostgreSQL database through a pool.
 * Each write is one transaction; each read one statement (one snapshot). Full text is real BM25
 * over per-KB postings (sql.ts RANK_LEXICAL); vectors are pgvector when the server has it.
 */
export class PostgresStore implements Store {
  private vectors: VectorSupport = { available: false, reason: 'store not initialised', iterativeScan: false };

  constructor(
    private readonly pool: Pool,
    private readonly opts: PostgresStoreOptions,
  ) {}

  get vectorSearch(): { available: boolean; reason: string | null } {
    return { available: this.vectors.available, reason: this.vectors.reason };
  }

  async init(): Promise<void> {
    await migrate(this.pool);
    this.vectors = await ensureVectorSupport(this.pool);
    await inTransaction(this.pool, (c) =>
      this.ensureKb(c, 'default', { id: 'default', name: 'default', embedder: this.opts.defaultEmbedder, embedDim: this.opts.embedDim }),
    );
  }

  /** The pool belongs to whoever made it (the cluster adapters' factory closes it). */
  async close(): Promise<void> {}

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /** Inserts the tenant (if new) and the KB (if new), with its vector table; → the KB row. */
  private async ensureKb(
    c: PoolClient,
    tenantId: string,
    kb: { id: string; name: string; embedder: string; embedDim: number; ocr?: OcrMode },
  ): Promise<KbRow | null> {
    await c.query(SQL.ENSURE_TENANT, [tenantId, tenantId]);
    const inserted = await c.query<KbRow>(SQL.INSERT_KB, [tenantId, kb.id, kb.name, kb.embedder, kb.embedDim, kb.ocr ?? 'auto']);
    if (this.vectors.available) await ensureVectorTable(c, kb.embedDim);
    return inserted.rows[0] ?? null;
  }

  async createKb(tenantId: string, kb: { id: string; name: string; embedder: string; embedDim: number; ocr?: OcrMode }): Promise<KbRecord> {
    const row = await inTransaction(this.pool, (c) => this.ensureKb(c, tenantId, kb));
    // The same signal SqliteStore gives (kb-service.ts maps it to 409); see STYLE §3.3.
    if (!row) throw Object.assign(new Error('kb exists'), { code: 'kb_exists' });
    return toKb(row);
  }

  async getKb(scope: Scope): Promise<KbRecord | null> {
    const row = (await this.pool.query<KbRow>(SQL.SELECT_KB, [scope.tenantId, scope.kbId])).rows[0];
    return row ? toKb(row) : null;
  }

  async listKbs(tenantId: string): Promise<KbRecord[]> {
    return (await this.pool.query<KbRow>(SQL.LIST_KBS, [tenantId])).rows.map(toKb);
  }

  async deleteKb(scope: Scope): Promise<{ blobKeys: string[]; documentIds: string[] } | null> {
    return inTransaction(this.pool, async (c) => {
      // Documents first, then the KB: the order an index commit locks them in, so the two never deadlock.
      const docs = (await c.query<{ id: string; blob_key: string }>(SQL.LOCK_KB_DOCUMENTS, [scope.tenantId, scope.kbId])).rows;
      const gone = (await c.query<{ no: number }>(SQL.DELETE_KB, [scope.tenantId, scope.kbId])).rows[0];
      if (!gone) return null;
      await c.query(SQL.DELETE_KB_POSTINGS, [gone.no]);
      if (this.vectors.available) {
        const kbDim = await this.vectorTablesOf(c);
        for (const table of kbDim) await c.query(`DELETE FROM ${table} WHERE kb_no = $1`, [gone.no]);
      }
      await c.query(SQL.DELETE_KB_TASKS, [scope.tenantId, scope.kbId]);
      return { blobKeys: docs.map((d) => d.blob_key), documentIds: docs.map((d) => d.id) };
    });
  }

  /** Every vector table (a KB's rows are in the one of its dimension; a cheap catalogue read). */
  private async vectorTablesOf(c: PoolClient): Promise<string[]> {
    const rows = await c.query<{ t: string }>(
      `SELECT tablename AS t FROM pg_tables WHERE schemaname = current_schema() AND tablename ~ '^chunk_vectors_d[0-9]+$'`,
    );
    return rows.rows.map((r) => r.t);
  }

  async createDocument(doc: NewDocument): Promise<{ document: DocumentRecord; duplicate: boolean }> {
    const { tenantId, kbId } = doc.scope;
    type Outcome = { document: DocumentRecord; duplicate: boolean } | { refused: StorageUsage };
    const metadata = JSON.stringify(doc.metadata);
    const metadataBytes = Buffer.byteLength(metadata, 'utf8');
    // Stored bytes are the file's plus its metadata's (as the usage trigger counts them).
    const adding = { documents: 1, bytes: doc.bytes + metadataBytes };
    const result = await inTransaction(this.pool, async (c): Promise<Outcome> => {
      if (doc.quota) {
        // The usage row stays locked until COMMIT, so concurrent uploads cannot together overshoot.
        const usage = (await c.query<StorageUsage>(SQL.LOCK_TENANT_USAGE, [tenantId])).rows[0] ?? { documents: 0, bytes: 0 };
        if (quotaRefusal(usage, doc.quota, adding)) return { refused: usage };
      }
      const inserted = await c.query(SQL.INSERT_DOCUMENT, [
        doc.id, tenantId, kbId, doc.name, doc.type, doc.contentHash, doc.bytes, doc.blobKey, metadata, doc.taskId,
        JSON.stringify({ mode: doc.ocr ?? 'auto' }), metadataBytes,
      ]);
      if (inserted.rowCount === 0) {
        const existing = await this.documentWhere(c, 'd.tenant_id = $1 AND d.kb_id = $2 AND d.content_hash = $3', [tenantId, kbId, doc.contentHash]);
        return { document: existing!, duplicate: true };
      }
      await c.query(SQL.INSERT_INGEST_TASK, [doc.taskId, tenantId, kbId, doc.id]);
      await c.query(SQL.INSERT_PIPELINE_JOB, [doc.id, tenantId, kbId, doc.taskId, 'parse', this.opts.maxAttempts, doc.traceContext ?? null]);
      return { document: (await this.documentWhere(c, 'd.id = $1', [doc.id]))!, duplicate: false };
    });
    if ('refused' in result) throw quotaRefusal(result.refused, doc.quota!, adding)!;
    return result;
  }

  private async documentWhere(c: Pool | PoolClient, where: string, params: unknown[]): Promise<DocumentRecord | null> {
    const row = (await c.query<DocumentRow>(`${SQL.DOCUMENT_SELECT} WHERE ${where}`, params)).rows[0];
    return row ? toDocument(row) : null;
  }

  async getDocument(scope: Scope, id: string): Promise<DocumentRecord | null> {
    return this.documentWhere(this.pool, 'd.tenant_id = $1 AND d.kb_id = $2 AND d.id = $3', [scope.tenantId, scope.kbId, id]);
  }

  async recordOcr(scope: Scope, documentId: string, ocr: DocumentOcr): Promise<void> {
    await this.pool.query(SQL.RECORD_OCR, [JSON.stringify(ocr), documentId, scope.tenantId, scope.kbId]);
  }

  async findDocumentByContent(scope: Scope, contentHash: string): Promise<DocumentRecord | null> {
    return this.documentWhere(this.pool, 'd.tenant_id = $1 AND d.kb_id = $2 AND d.content_hash = $3', [scope.tenantId, scope.kbId, contentHash]);
  }

  async listDocuments(scope: Scope, q: ListDocumentsQuery): Promise<{ documents: DocumentRecord[]; nextCursor: string | null }> {
    const params: unknown[] = [scope.tenantId, scope.kbId, q.cursor ? decodeCursor(q.cursor) : 0, q.limit, MAX_LIST_PAGE_BYTES];
    let where = 'd.tenant_id = $1 AND d.kb_id = $2 AND d.seq > $3';
    if (q.status) {
      params.push(q.status);
      where += ` AND d.status = $${params.length}`;
    }
    // The page is cut in the server, by count and by the metadata's size, so rows past the cut
    // never cross the wire (see MAX_LIST_PAGE_BYTES).
    const rows = (await this.pool.query<DocumentRow & { seq: number; fetched: number }>(SQL.listDocumentsPage(where), params)).rows;
    const last = rows[rows.length - 1];
    return { documents: rows.map(toDocument), nextCursor: last && last.fetched > rows.length ? encodeCursor(last.seq) : null };
  }

  async listChunks(scope: Scope, documentId: string, q: { limit: number; after: number }): Promise<ChunkRecord[]> {
    type Row = { id: string; ordinal: number; text: string; heading_path: string; page: number | null; token_count: number };
    const rows = (await this.pool.query<Row>(SQL.LIST_CHUNKS, [scope.tenantId, scope.kbId, documentId, q.after, q.limit])).rows;
    return rows.map((r) => ({
      id: r.id, ordinal: r.ordinal, text: r.text, headingPath: JSON.parse(r.heading_path) as string[], page: r.page, tokenCount: r.token_count,
    }));
  }

  async kbCounts(scope: Scope): Promise<{ documents: Record<DocumentStatus, number>; chunks: number }> {
    const rows = (await this.pool.query<{ status: DocumentStatus; n: number; chunks: number }>(SQL.KB_COUNTS, [scope.tenantId, scope.kbId])).rows;
    const documents = noDocuments();
    let chunks = 0;
    for (const r of rows) {
      documents[r.status] = r.n;
      chunks += r.chunks;
    }
    return { documents, chunks };
  }

  async deleteDocument(scope: Scope, id: string): Promise<DocumentRecord | null> {
    return inTransaction(this.pool, async (c) => {
      const locked = await c.query(SQL.LOCK_DOCUMENT, [id, scope.tenantId, scope.kbId]);
      if (locked.rowCount === 0) return null;
      const doc = (await this.documentWhere(c, 'd.id = $1', [id]))!;
      const removed = await this.removeChunks(c, id);
      await c.query(SQL.DELETE_DOCUMENT, [id]);
      await c.query(SQL.CANCEL_DOCUMENT_TASK, [doc.task_id]);
      if (removed.n > 0 || doc.status === 'ready') await c.query(SQL.BUMP_KB, [scope.tenantId, scope.kbId, -removed.n, -removed.len]);
      return doc;
    });
  }

  /** Postings, vectors and chunks of a document; → how many chunks and their total BM25 length. */
  private async removeChunks(c: PoolClient, documentId: string): Promise<{ n: number; len: number }> {
    await c.query(SQL.DELETE_DOCUMENT_POSTINGS, [documentId]);
    if (this.vectors.available) {
      for (const table of await this.vectorTablesOf(c)) {
        await c.query(`DELETE FROM ${table} WHERE chunk_no IN (SELECT no FROM chunks WHERE document_id = $1)`, [documentId]);
      }
    }
    return (await c.query<{ n: number; len: number }>(SQL.DELETE_DOCUMENT_CHUNKS, [documentId])).rows[0]!;
  }

  async tenantUsage(tenantId: string): Promise<StorageUsage> {
    return (await this.pool.query<StorageUsage>(SQL.TENANT_USAGE, [tenantId])).rows[0] ?? { documents: 0, bytes: 0 };
  }

  async countPending(scope: Scope): Promise<number> {
    return (await this.pool.query<{ n: number }>(SQL.COUNT_PENDING, [scope.tenantId, scope.kbId])).rows[0]!.n;
  }

  /** Always read from the database: another node may have committed a moment ago. */
  async kbState(scope: Scope): Promise<KbState | null> {
    const row = (await this.pool.query<KbRow & { pending: number }>(SQL.KB_STATE, [scope.tenantId, scope.kbId])).rows[0];
    return row ? Object.freeze({ kb: Object.freeze(toKb(row)), pending: row.pending }) : null;
  }

  async transition(t: DocumentTransition): Promise<TaskView | null> {
    return inTransaction(this.pool, async (c) => {
      const doc = await c.query(SQL.TRANSITION_DOCUMENT, [t.status, t.stage, t.error ?? null, t.documentId, t.scope.tenantId]);
      if (doc.rowCount === 0) return null;
      const task = await c.query<TaskRow>(SQL.TRANSITION_TASK, [t.taskStatus, t.stage, t.progress.done, t.progress.total, t.error ?? null, t.taskId]);
      return task.rows[0] ? toTask(task.rows[0]) : null;
    });
  }

  /**
   * The one transaction that makes a document searchable (see the port). The files are read
   * before BEGIN, so no row is locked while the disk works. With `fence`, the commit happens only
   * while the document's pipeline row still holds that value (see docs/cluster-design.md).
   */
  async commitIndex(ci: IndexCommit): Promise<{ task: TaskView; chunks: number } | null> {
    // One JSON record per line (or an older version's whole array): stage-lines.ts reads both.
    const drafts: ChunkDraft[] = [];
    for await (const d of readChunksAsync(ci.chunksPath)) drafts.push(d);
    const raw = await readFile(ci.vectorsPath);
    const vectors = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    if (vectors.length !== drafts.length * ci.embedDim) {
      throw new Error(`vector file holds ${vectors.length / ci.embedDim} vectors for ${drafts.length} chunks`);
    }
    const { tenantId, kbId } = ci.scope;
    return inTransaction(this.pool, async (c) => {
      const doc = (await c.query<DocumentRow>(SQL.LOCK_DOCUMENT, [ci.documentId, tenantId, kbId])).rows[0];
      if (!doc) return null;
      if (ci.fence !== undefined) {
        const held = await c.query('SELECT 1 FROM pipeline_jobs WHERE document_id = $1 AND fence = $2 FOR UPDATE', [ci.documentId, ci.fence]);
        if (held.rowCount === 0) return null;
      }
      const kb = (await c.query<KbRow & { no: number }>(SQL.SELECT_KB, [tenantId, kbId])).rows[0];
      if (kb?.embed_dim !== ci.embedDim) throw new Error(`KB expects ${kb?.embed_dim}-dimensional vectors, got ${ci.embedDim}`);
      const removed = await this.removeChunks(c, ci.documentId);
      const postings = buildPostings(doc.name, drafts);
      const inserted = await c.query<{ no: number; ordinal: number }>(SQL.INSERT_CHUNKS, [
        drafts.map((d) => `${ci.documentId}-${d.ordinal}`), tenantId, kbId, kb.no, ci.documentId,
        drafts.map((d) => d.ordinal), drafts.map((d) => d.text), drafts.map((d) => JSON.stringify(d.headingPath)),
        drafts.map((d) => d.page), drafts.map((d) => d.tokenCount), postings.lengths,
        drafts.map((d) => d.ocrConfidence ?? null),
      ]);
      const noByOrdinal = new Map(inserted.rows.map((r) => [r.ordinal, r.no]));
      const chunkNos = drafts.map((d) => noByOrdinal.get(d.ordinal)!);
      await c.query(SQL.INSERT_POSTINGS, [
        kb.no, postings.terms, postings.chunk.map((i) => chunkNos[i]), postings.title, postings.heading, postings.body, postings.dl,
      ]);
      if (this.vectors.available && drafts.length > 0) {
        const table = await ensureVectorTable(c, ci.embedDim);
        const dim = ci.embedDim;
        await c.query(
          `INSERT INTO ${table} (chunk_no, kb_no, embedding) SELECT u.no, $2, u.v FROM unnest($1::bigint[], $3::vector[]) AS u(no, v)`,
          [chunkNos, kb.no, drafts.map((_, i) => vectorLiteral(vectors.subarray(i * dim, (i + 1) * dim)))],
        );
      }
      await c.query(SQL.DOCUMENT_READY, [drafts.length, ci.documentId]);
      const task = (await c.query<TaskRow>(SQL.TASK_SUCCEEDED, [ci.taskId])).rows[0]!;
      await c.query(SQL.DELETE_PIPELINE_JOB, [ci.documentId]);
      const added = postings.lengths.reduce((a, b) => a + b, 0);
      // Last, so the KB row (which every commit to this KB updates) is locked for the least time.
      await c.query(SQL.BUMP_KB, [tenantId, kbId, drafts.length - removed.n, added - removed.len]);
      return { task: toTask(task), chunks: drafts.length };
    });
  }

  async createTask(t: { id: string; tenantId: string; kbId: string; kind: 'ingest' | 'retrieve'; expiresAt?: string }): Promise<TaskView> {
    return toTask((await this.pool.query<TaskRow>(SQL.INSERT_TASK, [t.id, t.tenantId, t.kbId, t.kind, t.expiresAt ?? null])).rows[0]!);
  }

  async getTask(tenantId: string, id: string): Promise<TaskView | null> {
    const row = (await this.pool.query<TaskRow>(SQL.SELECT_TASK, [id, tenantId])).rows[0];
    return row ? toTask(row) : null;
  }

  async updateTask(tenantId: string, id: string, patch: Parameters<Store['updateTask']>[2]): Promise<TaskView | null> {
    const sets: string[] = [];
    const params: unknown[] = [];
    const set = (column: string, value: unknown, cast = '') => {
      params.push(value);
      sets.push(`${column} = $${params.length}${cast}`);
    };
    if (patch.status !== undefined) set('status', patch.status);
    if (patch.stage !== undefined) set('stage', patch.stage);
    if (patch.error !== undefined) set('error', patch.error);
    if (patch.progress !== undefined) (set('progress_done', patch.progress.done), set('progress_total', patch.progress.total));
    if (patch.result !== undefined) set('result', JSON.stringify(patch.result), '::jsonb');
    params.push(id, tenantId);
    const row = (
      await this.pool.query<TaskRow>(
        `UPDATE tasks SET ${[...sets, 'version = version + 1', 'updated_at = now()'].join(', ')}
         WHERE id = $${params.length - 1} AND tenant_id = $${params.length} RETURNING *`,
        params,
      )
    ).rows[0];
    return row ? toTask(row) : null;
  }

  async purgeExpiredTasks(now: Date): Promise<number> {
    return (await this.pool.query(SQL.PURGE_EXPIRED_TASKS, [now])).rowCount ?? 0;
  }

  async documentChunks(scope: Scope, documentId: string, page: { offset: number; limit: number }): Promise<StoredChunk[]> {
    return (await this.pool.query<StoredChunk>(SQL.DOCUMENT_CHUNKS, [scope.tenantId, scope.kbId, documentId, page.offset, page.limit])).rows;
  }

  async getChunk(tenantId: string, chunkId: string): Promise<StoredChunk | null> {
    return (await this.pool.query<StoredChunk>(SQL.TENANT_CHUNK, [chunkId, tenantId])).rows[0] ?? null;
  }

  async searchLexical(scope: Scope, query: string, k: number, filter?: SearchFilter, signal?: AbortSignal): Promise<ChunkHit[]> {
    signal?.throwIfAborted();
    const terms = queryTerms(query);
    if (terms.length === 0) return [];
    const params: unknown[] = [scope.tenantId, scope.kbId, terms, k, ...BM25_WEIGHTS];
    const where = filterSql(filter, params);
    const sql = SQL.RANK_LEXICAL.replace('{join}', where ? 'JOIN chunks c ON c.no = s.chunk_no JOIN documents d ON d.id = c.document_id' : '').replace(
      '{filter}',
      where,
    );
    return (await queryUnlessAborted<HitRow>(this.pool, signal, sql, params)).rows.map(toHit);
  }

  async searchVector(scope: Scope, vector: Float32Array, k: number, filter?: SearchFilter, signal?: AbortSignal): Promise<ChunkHit[]> {
    signal?.throwIfAborted();
    if (!this.vectors.available) throw new VectorSearchUnavailableError(this.vectors.reason ?? 'vector search is unavailable');
    const kb = await this.pool.query<{ no: number; embed_dim: number }>('SELECT no, embed_dim FROM kbs WHERE tenant_id = $1 AND id = $2', [
      scope.tenantId, scope.kbId,
    ]);
    const row = kb.rows[0];
    if (!row) return [];
    if (vector.length !== row.embed_dim) throw new Error(`query vector has ${vector.length} dimensions, the KB ${row.embed_dim}`);
    const table = vectorTable(row.embed_dim);
    const params: unknown[] = [vectorLiteral(vector), row.no, k];
    const where = filterSql(filter, params);
    const sql = `
      WITH knn AS (
        SELECT v.chunk_no, v.embedding <=> $1::vector AS distance FROM ${table} v
        ${where ? 'JOIN chunks c ON c.no = v.chunk_no JOIN documents d ON d.id = c.document_id' : ''}
        WHERE v.kb_no = $2 ${where}
        ORDER BY v.embedding <=> $1::vector LIMIT $3
      )
      SELECT c.id, c.document_id, d.name, c.ordinal, c.text, c.heading_path, c.page, c.ocr_confidence, 1 - knn.distance AS score
      FROM knn JOIN chunks c ON c.no = knn.chunk_no JOIN documents d ON d.id = c.document_id
      ORDER BY knn.distance, knn.chunk_no`;
    return inTransaction(this.pool, async (c) => {
      // Keep walking the HNSW graph until k rows of this KB (and filter) are found.
      if (this.vectors.iterativeScan) await c.query(`SET LOCAL hnsw.iterative_scan = relaxed_order`);
      await c.query(`SELECT set_config('hnsw.ef_search', $1, true)`, [String(Math.min(1000, Math.max(40, k * 2)))]);
      return (await c.query<HitRow>(sql, params)).rows.map(toHit);
    }, signal);
  }

  async documentCounts(tenantId?: string): Promise<Record<DocumentStatus, number>> {
    const counts = noDocuments();
    const rows = (await this.pool.query<{ status: DocumentStatus; n: number }>(SQL.DOCUMENT_COUNTS, [tenantId ?? null])).rows;
    for (const r of rows) counts[r.status] = r.n;
    return counts;
  }
}

/** Conditions on c (chunks) and d (documents) for a search filter; appends their parameters. */
function filterSql(filter: SearchFilter | undefined, params: unknown[]): string {
  if (!filter) return '';
  let sql = '';
  if (filter.documentIds && filter.documentIds.length > 0) {
    params.push(filter.documentIds);
    sql += ` AND c.document_id = ANY($${params.length}::text[])`;
  }
  const metadata = Object.entries(filter.metadata ?? {});
  for (const [key] of metadata) if (!METADATA_KEY.test(key)) throw new Error(`invalid metadata key ${JSON.stringify(key)}`);
  if (metadata.length > 0) {
    // Containment: every key present with exactly this JSON value (jsonb_path_ops-friendly).
    params.push(JSON.stringify(Object.fromEntries(metadata)));
    sql += ` AND d.metadata @> $${params.length}::jsonb`;
  }
  return sql;
}
