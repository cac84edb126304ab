import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, badRequest, notFound } from '../domain/errors.js';
import type { DocType, DocumentStatus, DocumentView, Scope, TaskView } from '../domain/types.js';
import { sniffType } from '../parsing/sniff.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { EventBus } from '../ports/event-bus.js';
import type { JobQueue } from '../ports/job-queue.js';
import type { DocumentRecord, Store } from '../ports/store.js';
import { captureTraceContext } from '../observability/tracing.js';
import { displayName } from './display-name.js';
import { newId } from './ids.js';
import type { KbService } from './kb-service.js';
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
  /** The embedder this process ingests with; a KB recorded with another one refuses uploads. */
  embedderId: string;
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
      /** Cuts off a document's running stage when it is deleted. */
      cancelRunning: (documentId: string) => void;
    },
    private readonly opts: DocumentServiceOptions,
  ) {}

  /**
   * Streams the upload to a temp file while hashing it, so memory stays flat whatever the size.
   * Only once the bytes are on disk is the type checked and the document recorded.
   */
  async uploadStream(
    scope: Scope,
    file: { filename: string; stream: NodeJS.ReadableStream; metadata?: Record<string, unknown> },
  ): Promise<UploadedDocument> {
    await this.checkKb(scope);
    const name = displayName(file.filename);
    const temp = this.deps.blobs.tempPath();
    const hash = createHash('sha256');
    const head: Buffer[] = [];
    let headBytes = 0;
    let bytes = 0;
    const max = this.opts.maxUploadBytes;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        if (bytes > max) return done(tooLarge(max));
        hash.update(chunk);
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
    try {
      if (bytes === 0) throw badRequest(`"${name}" is empty`, 'empty_file');
      const type = this.sniff(name, Buffer.concat(head));
      return await this.record(scope, { name, type, temp, bytes, contentHash: hash.digest('hex'), metadata: file.metadata ?? {} });
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
    const labelled = /\.(md|markdown|html?|csv|jsonl?|txt)$/i.test(name) ? name : `${name.slice(0, 250)}.txt`;
    return this.uploadStream(scope, { filename: labelled, stream: Readable.from([Buffer.from(input.text, 'utf8')]), metadata: input.metadata }).then(
      (doc) => ({ ...doc, name }),
    );
  }

  async list(scope: Scope, q: { status?: DocumentStatus; limit: number; cursor?: string }) {
    await this.deps.kbs.get(scope);
    const page = await this.deps.store.listDocuments(scope, q);
    return { documents: page.documents.map(toView), next_cursor: page.nextCursor };
  }

  async get(scope: Scope, id: string): Promise<DocumentView> {
    const doc = await this.deps.store.getDocument(scope, id);
    if (!doc) throw notFound(`document "${id}"`);
    return toView(doc);
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

  private async checkKb(scope: Scope): Promise<void> {
    const kb = await this.deps.kbs.get(scope);
    if (kb.embedder !== this.opts.embedderId) {
      throw new AppError(
        409,
        'embedder_mismatch',
        `knowledge base "${kb.id}" was built with embedder ${kb.embedder} (dimension ${kb.embedDim}); this server embeds with ${this.opts.embedderId}`,
      );
    }
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
    a: { name: string; type: DocType; temp: string; bytes: number; contentHash: string; metadata: Record<string, unknown> },
  ): Promise<UploadedDocument> {
    const blobKey = sourceKey(scope, a.contentHash);
    await this.deps.blobs.commitTemp(a.temp, blobKey);
    const { document, duplicate } = await this.deps.store.createDocument({
      scope,
      id: newId('doc'),
      taskId: newId('task'),
      name: a.name,
      type: a.type,
      contentHash: a.contentHash,
      bytes: a.bytes,
      blobKey,
      metadata: a.metadata,
      traceContext: captureTraceContext(),
    });
    if (!duplicate) {
      this.deps.queue.notifyRunnable();
      const task = await this.deps.store.getTask(scope.tenantId, document.task_id);
      if (task) await this.publish(scope, task);
    }
    return { id: document.id, name: document.name, status: document.status, task_id: document.task_id, duplicate };
  }

  private publish(scope: Scope, task: TaskView): Promise<void> {
    return this.deps.bus.publish({ tenantId: scope.tenantId, kbId: scope.kbId, task });
  }
}

function tooLarge(max: number): AppError {
  return new AppError(413, 'too_large', `upload exceeds the ${max}-byte limit`);
}

function toView(doc: DocumentRecord): DocumentView {
  const { tenantId: _tenant, blobKey: _blob, ...view } = doc;
  return view;
}
