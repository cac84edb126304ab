import type { Statement } from 'better-sqlite3';
import { join } from 'node:path';
import type { DocumentStatus, Scope, TaskView } from '../../../domain/types.js';
import { quotaRefusal, type StorageUsage } from '../../../domain/storage-quota.js';
import type {
  ChunkHit,
  DocumentRecord,
  DocumentTransition,
  IndexCommit,
  KbRecord,
  KbState,
  ListDocumentsQuery,
  NewDocument,
  SearchFilter,
  Store,
} from '../../../ports/store.js';
import { InvalidCursorError, MAX_LIST_PAGE_BYTES } from '../../../ports/store.js';
import { KbStateReader, PENDING_STATUSES } from './kb-state-reader.js';
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
}

const encodeCursor = (seq: number) => Buffer.from(String(seq)).toString('base64url');
function decodeCursor(cursor: string): number {
  // Strict both ways: Buffer.from decodes garbage leniently (`!!!` → '' → 0, page one again).
  const text = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString() : '';
  const n = /^[0-9]{1,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || encodeCursor(n) !== cursor) throw new InvalidCursorError();
  return n;
}

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
  }

  async close(): Promise<void> {
    this.reader?.close();
    this.reader = null;
    this.kbStates = null;
    await this.writer.close();
  }

  async ping(): Promise<void> {
    this.prepared('SELECT 1').get();
    await this.writer.call('ping');
  }

  async createKb(tenantId: string, kb: { id: string; name: string; embedder: string; embedDim: number }): Promise<KbRecord> {
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
    if ('refused' in result) throw quotaRefusal(result.refused, doc.quota!, { documents: 1, bytes: doc.bytes })!;
    return result;
  }

  async tenantUsage(tenantId: string): Promise<StorageUsage> {
    // The same read the writer makes inside createDocument's transaction, here on the read connection.
    return tenantUsage(this.db, { tenantId });
  }

  async getDocument(scope: Scope, id: string): Promise<DocumentRecord | null> {
    return this.documentOfKb(scope, 'd.id', id);
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

  async searchLexical(scope: Scope, query: string, k: number, filter?: SearchFilter, signal?: AbortSignal): Promise<ChunkHit[]> {
    const args = { ...scope, query, k, filter };
    return this.searchRunner ? this.searchRunner.lexical(args, signal) : searchLexical(this.db, args);
  }

  async searchVector(scope: Scope, vector: Float32Array, k: number, filter?: SearchFilter, signal?: AbortSignal): Promise<ChunkHit[]> {
    const kb = await this.getKb(scope);
    if (!kb) return [];
    const args = { ...scope, vector, dim: kb.embedDim, k, filter };
    return this.searchRunner ? this.searchRunner.vector(args, signal) : searchVector(this.db, args);
  }

  async documentCounts(tenantId?: string): Promise<Record<DocumentStatus, number>> {
    const counts: Record<DocumentStatus, number> = {
      queued: 0, parsing: 0, chunking: 0, embedding: 0, indexing: 0, ready: 0, failed: 0,
    };
    const rows = (
      tenantId === undefined
        ? this.prepared('SELECT status, count(*) n FROM documents GROUP BY status').all()
        : this.prepared('SELECT status, count(*) n FROM documents WHERE tenant_id = ? GROUP BY status').all(tenantId)
    ) as { status: DocumentStatus; n: number }[];
    for (const r of rows) counts[r.status] = r.n;
    return counts;
  }
}
