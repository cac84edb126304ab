import type { Statement } from 'better-sqlite3';
import { decodeCursor, encodeCursor } from '../../list-cursor.js';
import { join } from 'node:path';
import type { DocumentOcr, DocumentStatus, OcrMode, Scope, TaskView } from '../../../domain/types.js';
import { quotaRefusal, type StorageUsage } from '../../../domain/storage-quota.js';
import type {
  ChunkHit,
  ChunkRecord,
  DocumentRecord,
  DocumentTransition,
  IndexCommit,
  KbRecord,
  KbState,
  ListDocumentsQuery,
  NewDocument,
  SearchFilter,
  Store,
  StoredChunk,
} from '../../../ports/store.js';
import { InvalidCursorError, MAX_LIST_PAGE_BYTES } from '../../../ports/store.js';
import { KbStateReader, PENDING_STATUSES } from './kb-state-reader.js';
import type { ResegmentStep } from './kb-fts.js';
import { openDatabase, type Db } from './open.js';
import { checkDatabaseFile, checkDataDir } from './preflight.js';
import { DOCUMENT_SELECT, toDocument, toKb, toTask, type DocumentRow, type KbRow, type TaskRow } from './rows.js';
import { searchLexical, searchVector, type SearchRunner } from './search-ops.js';
import { prepareCached } from './statements.js';
import { SqliteWriter } from './writer.js';
import { tenantUsage } from './write-ops.js';

export interface SqliteStoreOptions {
  dataDir: string;
  /** The embedder id and dimension new KBs (and `default`) are created with. */
  defaultEmbedder: string;
  embedDim: number;
  maxAttempts: number;
  /** Where the start-up full-text rebuild reports progress (see rebuildFullText). */
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

/** A chunk with its document's name (the chunk_by_document index serves the document's list). */
const CHUNK_SELECT = `SELECT c.id, c.kb_id, c.document_id, d.name, c.ordinal, c.text, c.page FROM chunks c JOIN documents d ON d.id = c.document_id`;

interface ChunkRow {
  id: string;
  kb_id: string;
  document_id: string;
  name: string;
  ordinal: number;
  text: string;
  page: number | null;
}

const toStoredChunk = (r: ChunkRow): StoredChunk => ({
  chunkId: r.id,
  kbId: r.kb_id,
  documentId: r.document_id,
  documentName: r.name,
  ordinal: r.ordinal,
  text: r.text,
  page: r.page,
});

/** Rows per rebuild transaction: small enough that an upload's commit waits at most a few ms behind one. */
const REBUILD_BATCH = 200;
const REBUILD_LOG_EVERY_MS = 5_000;

const noDocuments = (): Record<DocumentStatus, number> => ({
  queued: 0, parsing: 0, recognizing: 0, chunking: 0, embedding: 0, indexing: 0, ready: 0, failed: 0,
});


/**
 * The embedded store: one SQLite file in the data directory. Writes go to the writer thread;
 * reads use this thread's own connection, which WAL never blocks.
 */
export class SqliteStore implements Store {
  readonly writer: SqliteWriter;
  private reader: Db | null = null;
  private kbStates: KbStateReader | null = null;
  /** Where searches run; null = this thread's read connection (tests, tools). */
  private searchRunner: SearchRunner | null = null;
  readonly dbPath: string;
  private closing = false;
  /** The background full-text rebuild started by init(); resolves when it ends or stops. */
  fullTextRebuilt: Promise<void> = Promise.resolve();

  constructor(private readonly opts: SqliteStoreOptions) {
    checkDataDir(opts.dataDir);
    this.dbPath = join(opts.dataDir, 'ragd.db');
    checkDatabaseFile(this.dbPath);
    this.writer = new SqliteWriter(this.dbPath);
  }

  /** A compiled statement on the event loop's read connection (see prepareCached). */
  private prepared(sql: string): Statement<unknown[]> {
    return prepareCached(this.db, sql);
  }

  private get db(): Db {
    if (!this.reader) throw new Error('store not initialised: call init() first');
    return this.reader;
  }

  /** Moves searches off this thread (the search worker pool), or back onto it with null. */
  setSearchRunner(runner: SearchRunner | null): void {
    this.searchRunner = runner;
  }

  async init(): Promise<void> {
    await this.writer.call('ensureTenantAndKb', {
      tenantId: 'default',
      kbId: 'default',
      name: 'default',
      embedder: this.opts.defaultEmbedder,
      embedDim: this.opts.embedDim,
    });
    this.reader = openDatabase(this.dbPath, { readonly: true });
    this.kbStates = new KbStateReader(this.reader);
    this.fullTextRebuilt = this.rebuildFullText().catch((err: unknown) => this.opts.logger?.warn({ err }, 'full-text rebuild stopped; it resumes at the next start'));
  }

  /**
   * Rewrites the full-text rows of KBs indexed before the current segmentation (kb-fts.ts
   * FTS_FORMAT) from their `chunks`, one short writer transaction at a time, while the server
   * serves: questions keep answering throughout (a KB's rows are a mix of both formats until it
   * is done, so Chinese matches improve as it goes), and nothing is lost, since `chunks` is the
   * source. A restart resumes with the unfinished KB.
   */
  private async rebuildFullText(): Promise<void> {
    let kb: { tenantId: string; kbId: string } | null = null;
    let after = 0;
    let done = 0;
    let total: number | null = null;
    let lastLog = 0;
    while (!this.closing) {
      const step: ResegmentStep | null = await this.writer.call('resegmentStep', { kb, after, limit: REBUILD_BATCH });
      if (!step) break;
      if (step.total !== null) {
        total = step.total;
        done = 0;
        if (step.total > 0) this.opts.logger?.info({ tenant: step.tenantId, kb: step.kbId, chunks: total }, 'rebuilding full-text index with word segmentation');
      }
      done += step.rows;
      const now = Date.now();
      if (step.finished) {
        if (done > 0) this.opts.logger?.info({ tenant: step.tenantId, kb: step.kbId, chunks: done }, 'full-text index rebuilt');
        kb = null;
        after = 0;
      } else {
        kb = { tenantId: step.tenantId, kbId: step.kbId };
        after = step.last;
        if (now - lastLog >= REBUILD_LOG_EVERY_MS) {
          lastLog = now;
          this.opts.logger?.info({ tenant: step.tenantId, kb: step.kbId, done, total }, 'full-text rebuild progress');
        }
      }
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.fullTextRebuilt;
    this.reader?.close();
    this.reader = null;
    this.kbStates = null;
    await this.writer.close();
  }

  async ping(): Promise<void> {
    this.prepared('SELECT 1').get();
    await this.writer.call('ping');
  }

  async createKb(tenantId: string, kb: { id: string; name: string; embedder: string; embedDim: number; ocr?: OcrMode }): Promise<KbRecord> {
    const created = await this.writer.call('createKb', { tenantId, ...kb });
    if (!created) throw Object.assign(new Error('kb exists'), { code: 'kb_exists' });
    return created;
  }

  async getKb(scope: Scope): Promise<KbRecord | null> {
    const row = this.prepared('SELECT * FROM kbs WHERE tenant_id = ? AND id = ?').get(scope.tenantId, scope.kbId) as KbRow | undefined;
    return row ? toKb(row) : null;
  }

  async listKbs(tenantId: string): Promise<KbRecord[]> {
    return (this.prepared('SELECT * FROM kbs WHERE tenant_id = ? ORDER BY id').all(tenantId) as KbRow[]).map(toKb);
  }

  async deleteKb(scope: Scope) {
    return this.writer.call('deleteKb', scope);
  }

  async createDocument(doc: NewDocument) {
    const result = await this.writer.call('createDocument', { doc, maxAttempts: this.opts.maxAttempts });
    // The metadata counts as write-ops.ts counted it, or a refusal it caused would throw nothing.
    const adding = { documents: 1, bytes: doc.bytes + Buffer.byteLength(JSON.stringify(doc.metadata), 'utf8') };
    if ('refused' in result) throw quotaRefusal(result.refused, doc.quota!, adding)!;
    return result;
  }

  async tenantUsage(tenantId: string): Promise<StorageUsage> {
    // The same read the writer makes inside createDocument's transaction, here on the read connection.
    return tenantUsage(this.db, { tenantId });
  }

  async getDocument(scope: Scope, id: string): Promise<DocumentRecord | null> {
    return this.documentOfKb(scope, 'd.id', id);
  }

  async recordOcr(scope: Scope, documentId: string, ocr: DocumentOcr): Promise<void> {
    await this.writer.call('recordOcr', { scope, documentId, ocr });
  }

  async findDocumentByContent(scope: Scope, contentHash: string): Promise<DocumentRecord | null> {
    return this.documentOfKb(scope, 'd.content_hash', contentHash);
  }

  /** The KB's document whose `column` (a fixed name, never input) equals `value`. */
  private documentOfKb(scope: Scope, column: 'd.id' | 'd.content_hash', value: string): DocumentRecord | null {
    const row = this.prepared(`${DOCUMENT_SELECT} WHERE d.tenant_id = ? AND d.kb_id = ? AND ${column} = ?`).get(scope.tenantId, scope.kbId, value) as
      | DocumentRow
      | undefined;
    return row ? toDocument(row) : null;
  }

  async listDocuments(scope: Scope, q: ListDocumentsQuery) {
    const params: unknown[] = [scope.tenantId, scope.kbId, q.cursor ? decodeCursor(q.cursor) : 0];
    let where = 'd.tenant_id = ? AND d.kb_id = ? AND d.seq > ?';
    if (q.status) {
      where += ' AND d.status = ?';
      params.push(q.status);
    }
    params.push(q.limit + 1);
    // Cut by count, then by the metadata's bytes (the part of a row a tenant can make large).
    // Iterated, so rows past the cut are never read into memory.
    const page: DocumentRow[] = [];
    let size = 0;
    let more = false;
    for (const row of this.prepared(`${DOCUMENT_SELECT} WHERE ${where} ORDER BY d.seq LIMIT ?`).iterate(...params) as Iterable<DocumentRow>) {
      size += row.metadata.length;
      if (page.length === q.limit || (page.length > 0 && size > MAX_LIST_PAGE_BYTES)) {
        more = true;
        break;
      }
      page.push(row);
    }
    const last = page[page.length - 1];
    return {
      documents: page.map(toDocument),
      nextCursor: more && last ? encodeCursor(last.seq) : null,
    };
  }

  async listChunks(scope: Scope, documentId: string, q: { limit: number; after: number }): Promise<ChunkRecord[]> {
    const rows = this.prepared(
      `SELECT id, ordinal, text, heading_path, page, token_count FROM chunks
       WHERE document_id = ? AND tenant_id = ? AND kb_id = ? AND ordinal > ? ORDER BY ordinal LIMIT ?`,
    ).all(documentId, scope.tenantId, scope.kbId, q.after, q.limit) as {
      id: string; ordinal: number; text: string; heading_path: string; page: number | null; token_count: number;
    }[];
    return rows.map((r) => ({
      id: r.id, ordinal: r.ordinal, text: r.text, headingPath: JSON.parse(r.heading_path) as string[], page: r.page, tokenCount: r.token_count,
    }));
  }

  async deleteDocument(scope: Scope, id: string) {
    return this.writer.call('deleteDocument', { tenantId: scope.tenantId, kbId: scope.kbId, id });
  }

  async countPending(scope: Scope): Promise<number> {
    // IN over the unfinished statuses, not NOT IN over the finished ones: index seeks instead of
    // a scan of every document of the KB on each query.
    return this.prepared(`SELECT count(*) FROM documents WHERE tenant_id = ? AND kb_id = ? AND status IN ${PENDING_STATUSES}`)
      .pluck()
      .get(scope.tenantId, scope.kbId) as number;
  }

  async kbState(scope: Scope): Promise<KbState | null> {
    if (!this.kbStates) throw new Error('store not initialised: call init() first');
    return this.kbStates.read(scope.tenantId, scope.kbId);
  }

  async transition(t: DocumentTransition) {
    return this.writer.call('transition', t);
  }

  async commitIndex(c: IndexCommit) {
    return this.writer.call('commitIndex', c);
  }

  async createTask(t: { id: string; tenantId: string; kbId: string; kind: 'ingest' | 'retrieve'; expiresAt?: string }) {
    return this.writer.call('createTask', t);
  }

  async getTask(tenantId: string, id: string): Promise<TaskView | null> {
    const row = this.prepared('SELECT * FROM tasks WHERE id = ? AND tenant_id = ?').get(id, tenantId) as TaskRow | undefined;
    return row ? toTask(row) : null;
  }

  async updateTask(tenantId: string, id: string, patch: Parameters<Store['updateTask']>[2]) {
    return this.writer.call('updateTask', { tenantId, id, patch });
  }

  async purgeExpiredTasks(now: Date): Promise<number> {
    return this.writer.call('purgeExpiredTasks', { nowIso: now.toISOString() });
  }

  async documentChunks(scope: Scope, documentId: string, page: { offset: number; limit: number }): Promise<StoredChunk[]> {
    const rows = this.prepared(
      `${CHUNK_SELECT} WHERE c.tenant_id = ? AND c.kb_id = ? AND c.document_id = ? AND c.ordinal >= ? ORDER BY c.ordinal LIMIT ?`,
    ).all(scope.tenantId, scope.kbId, documentId, page.offset, page.limit) as ChunkRow[];
    return rows.map(toStoredChunk);
  }

  async getChunk(tenantId: string, chunkId: string): Promise<StoredChunk | null> {
    const row = this.prepared(`${CHUNK_SELECT} WHERE c.id = ? AND c.tenant_id = ?`).get(chunkId, tenantId) as ChunkRow | undefined;
    return row ? toStoredChunk(row) : null;
  }

    async searchLexical(scope: Scope, query: string, k: number, filter?: SearchFilter, signal?: AbortSignal): Promise<ChunkHit[]> {
    signal?.throwIfAborted();
    const args = { ...scope, query, k, filter };
    return this.searchRunner ? this.searchRunner.lexical(args, signal) : searchLexical(this.db, args);
  }

  async searchVector(scope: Scope, vector: Float32Array, k: number, filter?: SearchFilter, signal?: AbortSignal): Promise<ChunkHit[]> {
    signal?.throwIfAborted();
    const kb = await this.getKb(scope);
    if (!kb) return [];
    const args = { ...scope, vector, dim: kb.embedDim, k, filter };
    return this.searchRunner ? this.searchRunner.vector(args, signal) : searchVector(this.db, args);
  }

  async kbCounts(scope: Scope): Promise<{ documents: Record<DocumentStatus, number>; chunks: number }> {
    const rows = this.prepared('SELECT status, count(*) n, sum(chunks) c FROM documents WHERE tenant_id = ? AND kb_id = ? GROUP BY status').all(
      scope.tenantId,
      scope.kbId,
    ) as { status: DocumentStatus; n: number; c: number }[];
    const documents = noDocuments();
    let chunks = 0;
    for (const r of rows) {
      documents[r.status] = r.n;
      chunks += r.c;
    }
    return { documents, chunks };
  }

  async documentCounts(tenantId?: string): Promise<Record<DocumentStatus, number>> {
    const counts = noDocuments();
    const rows = (
      tenantId === undefined
        ? this.prepared('SELECT status, count(*) n FROM documents GROUP BY status').all()
        : this.prepared('SELECT status, count(*) n FROM documents WHERE tenant_id = ? GROUP BY status').all(tenantId)
    ) as { status: DocumentStatus; n: number }[];
    for (const r of rows) counts[r.status] = r.n;
    return counts;
  }
}
