import type { StorageQuota, StorageUsage } from '../domain/storage-quota.js';
import type {
  DocType,
  DocumentOcr,
  OcrMode,
  DocumentStatus,
  DocumentView,
  PipelineStage,
  Scope,
  TaskKind,
  TaskStatus,
  TaskView,
} from '../domain/types.js';

/**
 * The metadata and index store. The embedded adapter is SQLite (FTS5 + sqlite-vec); the cluster
 * adapter is Postgres. Every method is async so that no adapter is forced to block the event loop.
 *
 * Cluster decisions (docs/cluster-design.md has the whole plan):
 * - Hand-off to BullMQ is a transactional outbox. `createDocument` writes the document, its task
 *   and its first `pipeline_jobs` row in one PostgreSQL transaction; a relay adds the BullMQ job
 *   after COMMIT (job id = document + stage + attempt, so adding twice is harmless) and marks the
 *   row sent; the reconciler re-adds any row unsent or without a live BullMQ job. PostgreSQL, not
 *   Redis, is the record of what work exists, so Redis may restart empty.
 * - Exactly once is a fence in PostgreSQL: each attempt claims the document's `pipeline_jobs` row
 *   by bumping its `fence` and keeps the value; `commitIndex` with `fence` set commits only while
 *   that row still holds that value. A stale attempt (lock lapsed, job taken over) or a deleted
 *   document commits nothing and gets null.
 */

/** Thrown by `searchVector` of a store that cannot search vectors (PostgreSQL without pgvector). */
export class VectorSearchUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'VectorSearchUnavailableError';
  }
}

export interface KbRecord {
  tenantId: string;
  id: string;
  name: string;
  /** Embedder id recorded at creation (e.g. `hash:512`); queries and ingestion must match it. */
  embedder: string;
  embedDim: number;
  /** The KB's OCR setting: uploads that name none use it. */
  ocr: OcrMode;
  /** Content version: bumped whenever the KB's searchable content changes (cache keys use it). */
  version: number;
  createdAt: string;
}

/** A KB's record with the number of its documents not searchable yet. Shared: do not modify. */
export interface KbState {
  readonly kb: Readonly<KbRecord>;
  readonly pending: number;
}

export interface NewDocument {
  scope: Scope;
  id: string;
  taskId: string;
  name: string;
  type: DocType;
  contentHash: string;
  bytes: number;
  blobKey: string;
  metadata: Record<string, unknown>;
  /** OCR mode for this document (default `auto`). */
  ocr?: OcrMode;
  /** The uploading request's trace context, stored with the first pipeline job (see NewJob). */
  traceContext?: string | null;
  /** When given, the insert is refused (AppError 429/413) if it would take the tenant past it. Checked atomically. */
  quota?: StorageQuota;
}

export interface DocumentRecord extends DocumentView {
  tenantId: string;
  blobKey: string;
}

export interface ListDocumentsQuery {
  status?: DocumentStatus;
  limit: number;
  /** A `nextCursor` this store returned; anything else throws InvalidCursorError. */
  cursor?: string;
}

/**
 * A page of documents also ends before the metadata of its documents passes this many bytes
 * (always at least one document): `limit=1000` of 64 KB metadata would otherwise be 64 MB of
 * JSON serialised on the event loop.
 */
export const MAX_LIST_PAGE_BYTES = 1024 * 1024;

/** A cursor this store never handed out (mangled, or made up). */
export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor');
    this.name = 'InvalidCursorError';
  }
}

/** One state transition of an ingest document and its task, applied together. */
export interface DocumentTransition {
  scope: Scope;
  documentId: string;
  taskId: string;
  status: DocumentStatus;
  stage: PipelineStage | null;
  taskStatus: TaskStatus;
  progress: { done: number; total: number };
  error?: string | null;
}

/** The inputs of the single transaction that makes a document searchable. */
export interface IndexCommit {
  scope: Scope;
  documentId: string;
  taskId: string;
  /** Path of the chunker's output: one JSON ChunkDraft per line (stage-lines.ts; an older whole array reads too). */
  chunksPath: string;
  /** Path of the embedder's raw little-endian Float32 output (chunks × dim). */
  vectorsPath: string;
  embedDim: number;
  /**
   * Cluster: the fence value the committing attempt claimed; the commit happens only while the
   * document's pipeline row still holds it (else null, nothing written). Embedded: absent, since
   * the SQLite queue's lease token already fences the job that calls this.
   */
  fence?: number;
}

export interface ChunkHit {
  chunkId: string;
  documentId: string;
  documentName: string;
  ordinal: number;
  text: string;
  headingPath: string[];
  page: number | null;
  /** The OCR engine's confidence (0-1) when the chunk's text was read from an image; else null. */
  ocrConfidence?: number | null;
  score: number;
}

/** A stored chunk, read back by id or in its document's order (no score: nothing was searched). */
export interface StoredChunk {
  chunkId: string;
  kbId: string;
  documentId: string;
  documentName: string;
  ordinal: number;
  text: string;
  page: number | null;
}

/** One stored chunk of a document, as the document inspector shows it. */
export interface ChunkRecord {
  id: string;
  ordinal: number;
  text: string;
  headingPath: string[];
  page: number | null;
  tokenCount: number;
}

export interface SearchFilter {
  documentIds?: string[];
  /** Exact-match metadata values: every key must match. */
  metadata?: Record<string, string | number | boolean>;
}

export interface Store {
  /** Creates schema and the `default` tenant/KB. Idempotent. */
  init(): Promise<void>;
  close(): Promise<void>;
  /** Cheap round trip used by /readyz. */
  ping(): Promise<void>;
  /**
   * Whether `searchVector` works here, and why not; when not, it throws
   * VectorSearchUnavailableError. Absent means available (the embedded store always is); the
   * retriever answers vector mode with 501 and runs hybrid as lexical when not.
   */
  readonly vectorSearch?: { available: boolean; reason: string | null };

  createKb(tenantId: string, kb: { id: string; name: string; embedder: string; embedDim: number; ocr?: OcrMode }): Promise<KbRecord>;
  getKb(scope: Scope): Promise<KbRecord | null>;
  listKbs(tenantId: string): Promise<KbRecord[]>;
  /** Removes the KB and everything in it; returns the blob keys to delete. */
  deleteKb(scope: Scope): Promise<{ blobKeys: string[]; documentIds: string[] } | null>;

  /**
   * Inserts the document and its ingest task, unless the same content is already in the KB:
   * then returns the existing document with `duplicate: true` and inserts nothing.
   */
  createDocument(doc: NewDocument): Promise<{ document: DocumentRecord; duplicate: boolean }>;
  getDocument(scope: Scope, id: string): Promise<DocumentRecord | null>;
  /** Records which pages of the document were OCR'd, and by which engine (the `ocr` stage's result). */
  recordOcr(scope: Scope, documentId: string, ocr: DocumentOcr): Promise<void>;
  /** The KB's document with these bytes (by SHA-256), if it has one. */
  findDocumentByContent(scope: Scope, contentHash: string): Promise<DocumentRecord | null>;
  listDocuments(scope: Scope, q: ListDocumentsQuery): Promise<{ documents: DocumentRecord[]; nextCursor: string | null }>;
  /** Deletes the document, its chunks, full-text rows and vectors; returns what was removed. */
  deleteDocument(scope: Scope, id: string): Promise<DocumentRecord | null>;
  /** The document's chunks in order, from ordinal `after` + 1 (a page of `limit`); empty for an unknown document. */
  listChunks(scope: Scope, documentId: string, q: { limit: number; after: number }): Promise<ChunkRecord[]>;
  /** The KB's documents by status and its chunks, for its overview. */
  kbCounts(scope: Scope): Promise<{ documents: Record<DocumentStatus, number>; chunks: number }>;
  /** Documents and source bytes the tenant stores across its KBs. */
  tenantUsage(tenantId: string): Promise<StorageUsage>;
  /** Documents of the KB that are not `ready` or `failed` yet. */
  countPending(scope: Scope): Promise<number>;
  /**
   * The KB and its count of pending documents, both as of one state of the store (what a query
   * reads first); null for an unknown KB. Always current: never older than the last write.
   */
  kbState(scope: Scope): Promise<KbState | null>;

  /** Applies a pipeline transition to the document and its task; returns the new task view. */
  transition(t: DocumentTransition): Promise<TaskView | null>;
  /**
   * Replaces the document's chunks, full-text rows and vectors in one transaction and marks it
   * ready. Idempotent: running it twice leaves exactly one copy. Returns null when the document
   * is gone (deleted meanwhile), so nothing is indexed for it.
   */
  commitIndex(c: IndexCommit): Promise<{ task: TaskView; chunks: number } | null>;

  createTask(t: { id: string; tenantId: string; kbId: string; kind: TaskKind; expiresAt?: string }): Promise<TaskView>;
  getTask(tenantId: string, id: string): Promise<TaskView | null>;
  updateTask(
    tenantId: string,
    id: string,
    patch: Partial<Pick<TaskView, 'status' | 'stage' | 'progress' | 'error' | 'result'>>,
  ): Promise<TaskView | null>;
  /** Removes finished tasks whose `expiresAt` has passed. */
  purgeExpiredTasks(now: Date): Promise<number>;

  /** The document's chunks in order, `limit` of them from ordinal `offset` on (empty for an unknown document). */
  documentChunks(scope: Scope, documentId: string, page: { offset: number; limit: number }): Promise<StoredChunk[]>;
  /** One chunk of any of the tenant's KBs by its id, or null. */
  getChunk(tenantId: string, chunkId: string): Promise<StoredChunk | null>;

  /** `signal` fires when the query was abandoned: a search not yet started must not run. */
  searchLexical(scope: Scope, query: string, k: number, filter?: SearchFilter, signal?: AbortSignal): Promise<ChunkHit[]>;
  searchVector(scope: Scope, vector: Float32Array, k: number, filter?: SearchFilter, signal?: AbortSignal): Promise<ChunkHit[]>;
  documentCounts(tenantId?: string): Promise<Record<DocumentStatus, number>>;
}
