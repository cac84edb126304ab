import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, badRequest, conflict, notFound } from '../domain/errors.js';
import { type DocType, type DocumentStatus, type OcrMode, type DocumentView, type Scope, STAGES, type TaskView } from '../domain/types.js';
import { sniffType } from '../parsing/sniff.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { EventBus } from '../ports/event-bus.js';
import type { JobQueue } from '../ports/job-queue.js';
import { InvalidCursorError, type ChunkRecord, type DocumentRecord, type KbRecord, type Store } from '../ports/store.js';
import { captureTraceContext } from '../observability/tracing.js';
import type { TenantLimitsSource } from '../ports/tenant-limits.js';
import { quotaRefusal, type StorageQuota, type StorageUsage } from '../domain/storage-quota.js';
import { displayName } from './display-name.js';
import { checkedMetadata } from './metadata-guard.js';
import { newId } from './ids.js';
import type { KbService } from './kb-service.js';
import { requireKbEmbedder } from './kb-embedder.js';
import type { EmbedderResolver } from '../ports/models.js';
import { sourceKey, stagePrefix } from './pipeline/stage-files.js';

export interface UploadedDocument {
  id: string;
  name: string;
  status: DocumentStatus;
  task_id: string;
  duplicate: boolean;
}

export interface DocumentServiceOptions {
  maxUploadBytes: number;
}

const SNIFF_BYTES = 4096;

/** Upload, list, read and delete documents. Uploads stream to disk and return at once. */
export class DocumentService {
  constructor(
    private readonly deps: {
      store: Store;
      queue: JobQueue;
      bus: EventBus;
      blobs: BlobStore;
      kbs: KbService;
      /** A KB whose embedder its tenant can no longer reach refuses uploads. */
      embedders: EmbedderResolver;
      /** Cuts off a document's running stage when it is deleted. */
      cancelRunning: (documentId: string) => void;
      /** Per-tenant storage quotas; without it, none. */
      limits?: TenantLimitsSource;
    },
    private readonly opts: DocumentServiceOptions,
  ) {}

  /**
   * Streams the upload to a temp file while hashing it, so memory stays flat whatever the size.
   * Only once the bytes are on disk is the type checked and the document recorded.
   */
  async uploadStream(
    scope: Scope,
    file: { filename: string; stream: NodeJS.ReadableStream; metadata?: Record<string, unknown>; ocr?: OcrMode },
  ): Promise<UploadedDocument> {
    // Metadata is stored with the document: its bytes count against the quota as the file's do.
    const meta = checkedMetadata(file.metadata);
    const kb = await this.checkKb(scope);
    const ocr = file.ocr ?? kb.ocr;
    const quota = await this.quotaFor(scope.tenantId);
    const name = displayName(file.filename);
    const temp = this.deps.blobs.tempPath();
    const hash = createHash('sha256');
    const head: Buffer[] = [];
    let headBytes = 0;
    let bytes = 0;
    const max = this.opts.maxUploadBytes;
    // Over the tenant's quota the upload is still read (up to the upload limit) and hashed, but no
    // longer stored: if the KB already has these bytes, the answer is that document, as for any
    // duplicate, so a client retrying an upload whose reply it lost is not told the tenant is full.
    let refused = quota ? quotaRefusal(quota.usage, quota.quota, { documents: 1, bytes: 1 + meta.bytes }) : null;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        if (bytes > max) return done(tooLarge(max));
        refused ??= quota && quotaRefusal(quota.usage, quota.quota, { documents: 1, bytes: bytes + meta.bytes });
        hash.update(chunk);
        if (refused) return done();
        if (headBytes < SNIFF_BYTES) {
          head.push(chunk.subarray(0, SNIFF_BYTES - headBytes));
          headBytes += Math.min(chunk.length, SNIFF_BYTES - headBytes);
        }
        done(null, chunk);
      },
    });
    try {
      await pipeline(file.stream as Readable, meter, createWriteStream(temp, { flags: 'wx' }));
    } catch (err) {
      await this.deps.blobs.discardTemp(temp);
      if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') throw tooLarge(max);
      throw err;
    }
    if (refused) {
      await this.deps.blobs.discardTemp(temp);
      const existing = bytes > 0 ? await this.deps.store.findDocumentByContent(scope, hash.digest('hex')) : null;
      if (!existing) throw refused;
      return uploaded(await this.reviveIfFailed(scope, existing), true);
    }
    try {
      if (bytes === 0) throw badRequest(`"${name}" is empty`, 'empty_file');
      const type = this.sniff(name, Buffer.concat(head));
      return await this.record(scope, {
        name, type, temp, bytes, contentHash: hash.digest('hex'), metadata: meta.metadata, quota: quota?.quota, ocr,
      });
    } catch (err) {
      await this.deps.blobs.discardTemp(temp);
      throw err;
    }
  }

  /** A JSON upload: the text becomes a file like any other, typed by the name's extension. */
  async uploadText(scope: Scope, input: { name: string; text: string; metadata?: Record<string, unknown> }): Promise<UploadedDocument> {
    const bytes = Buffer.byteLength(input.text, 'utf8');
    if (bytes > this.opts.maxUploadBytes) throw tooLarge(this.opts.maxUploadBytes);
    const name = displayName(input.name);
    // A name without a known text extension is plain text: the caller sent text, not a file.
    const labelled = /\.(md|markdown|html?|csv|jsonl?|ndjson|txt)$/i.test(name) ? name : `${name.slice(0, 250)}.txt`;
    return this.uploadStream(scope, { filename: labelled, stream: Readable.from([Buffer.from(input.text, 'utf8')]), metadata: input.metadata }).then(
      (doc) => ({ ...doc, name }),
    );
  }

  async list(scope: Scope, q: { status?: DocumentStatus; limit: number; cursor?: string }) {
    await this.deps.kbs.get(scope);
    const page = await this.deps.store.listDocuments(scope, q).catch((err: unknown) => {
      throw err instanceof InvalidCursorError ? badRequest('cursor is not one this list handed out; start without one', 'invalid_cursor') : err;
    });
    return { documents: page.documents.map(toView), next_cursor: page.nextCursor };
  }

  async get(scope: Scope, id: string): Promise<DocumentView> {
    const doc = await this.deps.store.getDocument(scope, id);
    if (!doc) throw notFound(`document "${id}"`);
    return toView(doc);
  }

  /**
   * The stored original file of a document, opened for streaming. The file is found by the
   * document's blob key (never by its name); a document whose bytes are gone is a 404 too.
   */
  async original(scope: Scope, id: string): Promise<{ document: DocumentView; bytes: number; stream: Readable }> {
    const doc = await this.deps.store.getDocument(scope, id);
    if (!doc) throw notFound(`document "${id}"`);
    // Open first, so a missing blob is a clean 404 rather than a stream error after the headers.
    const handle = await open(this.deps.blobs.pathOf(doc.blobKey), 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw notFound(`file of document "${id}"`);
      throw err;
    });
    const { size } = await handle.stat();
    return { document: toView(doc), bytes: size, stream: handle.createReadStream() };
  }

  /** The KB's documents by status and its chunk count. */
  async counts(scope: Scope) {
    await this.deps.kbs.get(scope);
    return this.deps.store.kbCounts(scope);
  }

  /** A page of the document's chunks, in order; `after` is the last ordinal of the previous page. */
  async chunks(scope: Scope, id: string, q: { limit: number; after: number }): Promise<{ chunks: ChunkRecord[]; next_after: number | null }> {
    if (!(await this.deps.store.getDocument(scope, id))) throw notFound(`document "${id}"`);
    // One more than asked tells whether there is a next page without a count.
    const rows = await this.deps.store.listChunks(scope, id, { limit: q.limit + 1, after: q.after });
    const page = rows.slice(0, q.limit);
    return { chunks: page, next_after: rows.length > q.limit ? page[page.length - 1]!.ordinal : null };
  }

  /**
   * Retries a failed document from the stage that failed (its earlier stages' outputs are kept).
   * 409 when it has not failed: nothing to retry, and a second click must not run it twice.
   */
  async retry(scope: Scope, id: string): Promise<DocumentView> {
    const doc = await this.deps.store.getDocument(scope, id);
    if (!doc) throw notFound(`document "${id}"`);
    return toView(await this.revive(scope, doc));
  }

  /** Retries every failed document of the KB; returns how many were put back in the pipeline. */
  async retryFailed(scope: Scope): Promise<{ retried: number }> {
    await this.checkKb(scope);
    let retried = 0;
    // Revived documents leave the `failed` status, so the first page is read until it is empty;
    // a document that cannot be revived (retried meanwhile by someone else) is stepped over.
    let cursor: string | undefined;
    for (;;) {
      const page = await this.deps.store.listDocuments(scope, { status: 'failed', limit: 200, ...(cursor ? { cursor } : {}) });
      for (const doc of page.documents) {
        try {
          await this.revive(scope, doc);
          retried++;
        } catch (err) {
          if (!(err instanceof AppError && err.status === 409)) throw err;
        }
      }
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    return { retried };
  }

  /** A re-upload's document, retried when it had failed; one revived meanwhile is answered as it is. */
  private async reviveIfFailed(scope: Scope, doc: DocumentRecord): Promise<DocumentRecord> {
    if (doc.status !== 'failed') return doc;
    try {
      return await this.revive(scope, doc);
    } catch (err) {
      if (err instanceof AppError && err.code === 'not_failed') return (await this.deps.store.getDocument(scope, doc.id)) ?? doc;
      throw err;
    }
  }

  /**
   * Puts a failed document's buried stage back in the queue and announces it as queued at that
   * stage. The document is announced before consumers are woken, so a fast lease's `parsing`
   * (or later) status is not overwritten by this `queued`; only a slot polling in the same
   * instant could lease first, and the stage's own next announcement corrects the status.
   */
  private async revive(scope: Scope, doc: DocumentRecord): Promise<DocumentRecord> {
    if (doc.status !== 'failed') throw conflict(`document "${doc.id}" has not failed (it is ${doc.status})`, 'not_failed');
    await this.checkKb(scope);
    const stage = await this.deps.queue.revive(scope, doc.id);
    if (!stage) throw conflict(`document "${doc.id}" has no failed stage to retry`, 'not_failed');
    const task = await this.deps.store.transition({
      scope,
      documentId: doc.id,
      taskId: doc.task_id,
      status: 'queued',
      stage,
      taskStatus: 'queued',
      progress: { done: STAGES.indexOf(stage), total: STAGES.length },
      error: null,
    });
    this.deps.queue.notifyRunnable(stage);
    if (task) await this.publish(scope, task);
    return (await this.deps.store.getDocument(scope, doc.id)) ?? doc;
  }

  /** Removes the document everywhere: rows, chunks, full text, vectors, jobs, stored file, stage outputs. */
  async delete(scope: Scope, id: string): Promise<void> {
    const doc = await this.deps.store.deleteDocument(scope, id);
    if (!doc) throw notFound(`document "${id}"`);
    this.deps.cancelRunning(id);
    await Promise.all([this.deps.blobs.delete(doc.blobKey), this.deps.blobs.deletePrefix(stagePrefix(scope, id))]);
    const task = await this.deps.store.getTask(scope.tenantId, doc.task_id);
    if (task) await this.publish(scope, task);
  }

  private async checkKb(scope: Scope): Promise<KbRecord> {
    const kb = await this.deps.kbs.get(scope);
    await requireKbEmbedder(this.deps.embedders, kb);
    return kb;
  }

  /**
   * The tenant's storage quota and what it uses now, or null when it has none. The exact check is made again, atomically, when the
   * document is recorded.
   */
  private async quotaFor(tenantId: string): Promise<{ quota: StorageQuota; usage: StorageUsage } | null> {
    if (!this.deps.limits) return null;
    const { maxDocuments, maxStoredBytes } = await this.deps.limits.limitsFor(tenantId);
    if (maxDocuments === null && maxStoredBytes === null) return null;
    const quota = { maxDocuments, maxStoredBytes };
    const usage = await this.deps.store.tenantUsage(tenantId);
    return { quota, usage };
  }

  private sniff(name: string, head: Buffer): DocType {
    const sniffed = sniffType(name, head);
    if (!sniffed.ok) {
      throw new AppError(415, sniffed.code, sniffed.message);
    }
    return sniffed.type;
  }

  private async record(
    scope: Scope,
    a: {
      name: string;
      type: DocType;
      temp: string;
      bytes: number;
      contentHash: string;
      metadata: Record<string, unknown>;
      quota: StorageQuota | undefined;
      ocr: OcrMode;
    },
  ): Promise<UploadedDocument> {
    const blobKey = sourceKey(scope, a.contentHash);
    await this.deps.blobs.commitTemp(a.temp, blobKey);
    let created: Awaited<ReturnType<Store['createDocument']>>;
    try {
      created = await this.deps.store.createDocument({
        scope,
        id: newId('doc'),
        taskId: newId('task'),
        name: a.name,
        type: a.type,
        contentHash: a.contentHash,
        bytes: a.bytes,
        blobKey,
        metadata: a.metadata,
        ocr: a.ocr,
        traceContext: captureTraceContext(),
        ...(a.quota ? { quota: a.quota } : {}),
      });
    } catch (err) {
      // Refused (over quota): no document of this KB has this content (duplicates are found
      // before the quota is checked), so the stored file belongs to nobody. Leave nothing behind.
      if (err instanceof AppError) await this.deps.blobs.delete(blobKey);
      throw err;
    }
    const { document, duplicate } = created;
    // The same bytes of a document that failed: the upload is the user asking to try again.
    if (duplicate) return uploaded(await this.reviveIfFailed(scope, document), true);
    this.deps.queue.notifyRunnable(STAGES[0]!); // createDocument enqueued the first stage
    const task = await this.deps.store.getTask(scope.tenantId, document.task_id);
    if (task) await this.publish(scope, task);
    return uploaded(document, false);
  }

  private publish(scope: Scope, task: TaskView): Promise<void> {
    return this.deps.bus.publish({ tenantId: scope.tenantId, kbId: scope.kbId, task });
  }
}

function tooLarge(max: number): AppError {
  return new AppError(413, 'too_large', `upload exceeds the ${max}-byte limit`);
}

/** What an upload answers for a file: the document it became, or the one that already had its bytes. */
function uploaded(doc: DocumentRecord, duplicate: boolean): UploadedDocument {
  return { id: doc.id, name: doc.name, status: doc.status, task_id: doc.task_id, duplicate };
}

function toView(doc: DocumentRecord): DocumentView {
  const { tenantId: _tenant, blobKey: _blob, ...view } = doc;
  return view;
}
