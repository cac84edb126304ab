import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PermanentError } from '../../domain/errors.js';
import type { ChunkingOptions, DocType, ParseLimits, PipelineStage, TaskView } from '../../domain/types.js';
import type { BlobStore } from '../../ports/blob-store.js';
import type { LeasedJob } from '../../ports/job-queue.js';
import type { Embedder, EmbedderResolver } from '../../ports/models.js';
import type { Store } from '../../ports/store.js';
import type { IngestPool } from '../../workers/ingest-pool.js';
import { requireKbEmbedder } from '../kb-embedder.js';
import type { ParseOutput } from '../../workers/ingest-tasks.js';
import { needsOcr, runOcrStage, type OcrDeps } from './ocr-stage.js';
import { streamedFormat } from '../../parsing/index.js';
import { stageKeys } from './stage-files.js';
import { readChunksAsync } from './stage-lines.js';

/**
 * What each pipeline stage does. A stage reads the previous stage's output file and writes its
 * own (atomically, in the worker), so it is idempotent and a retry redoes only itself. Only
 * `index` touches the searchable tables, in one transaction.
 */
export interface StageDeps {
  store: Store;
  blobs: BlobStore;
  pool: IngestPool;
  parseLimits: ParseLimits;
  chunking: ChunkingOptions;
  /** Each KB's embedder (its tenant's own or the server's); `hash:<dim>` runs in the worker pool. */
  embedders: EmbedderResolver;
  /** OCR: engine, pool and limits (see ocr-stage.ts). */
  ocr: OcrDeps;
}

/** `skip`: the stage after this one has nothing to do for the document (no page needs OCR). */
export type StageOutcome = { kind: 'next'; skip?: PipelineStage } | { kind: 'indexed'; task: TaskView } | { kind: 'gone' };

export async function runStage(
  deps: StageDeps,
  job: LeasedJob,
  signal: AbortSignal,
  /** Progress within the stage (the `ocr` stage's pages done / total). */
  progress: (done: number, total: number) => Promise<void> = async () => {},
): Promise<StageOutcome> {
  const doc = await deps.store.getDocument(job.scope, job.documentId);
  if (!doc) return { kind: 'gone' };
  const keys = stageKeys(job.scope, job.documentId);
  const path = (key: string) => deps.blobs.pathOf(key);
  const timeScale = await streamedTimeScale(doc.type as DocType, doc.name, path(doc.blobKey));
  switch (job.stage satisfies PipelineStage) {
    case 'parse':
      await checkParseable(doc.type as DocType, doc.name, path(doc.blobKey), deps.parseLimits);
    {
      const parsed = await deps.pool.run<ParseOutput>(
        'parse',
        { sourcePath: path(doc.blobKey), type: doc.type as DocType, name: doc.name, outPath: path(keys.parsed), limits: deps.parseLimits },
        signal,
        timeScale,
      );
      return needsOcr(doc.ocr.mode, doc.type, parsed) ? { kind: 'next' } : { kind: 'next', skip: 'ocr' };
    }
    case 'ocr':
      await runOcrStage({
        ocr: deps.ocr, store: deps.store, blobs: deps.blobs, scope: job.scope, documentId: job.documentId,
        type: doc.type, sourcePath: path(doc.blobKey), mode: doc.ocr.mode, signal, progress,
      });
      return { kind: 'next' };
    case 'chunk': {
      // The OCR'd document when the `ocr` stage ran, else the parsed one.
      const ocred = await stat(path(keys.ocred)).then(() => true, () => false);
      const parsedPath = path(ocred ? keys.ocred : keys.parsed);
      await deps.pool.run('chunk', { parsedPath, ocred, outPath: path(keys.chunks), options: deps.chunking }, signal, timeScale);
      return { kind: 'next' };
    }
    case 'embed': {
      const kb = await deps.store.getKb(job.scope);
      if (!kb) return { kind: 'gone' };
      // Never into another space than the KB's: without its embedder the document fails, saying why.
      const embedder = await requireKbEmbedder(deps.embedders, kb);
      await embed(deps.pool, embedder, { chunksPath: path(keys.chunks), outPath: path(keys.vectors), title: doc.name }, signal, timeScale);
      return { kind: 'next' };
    }
    case 'index': {
      const kb = await deps.store.getKb(job.scope);
      if (!kb) return { kind: 'gone' };
      const committed = await deps.store.commitIndex({
        scope: job.scope,
        documentId: job.documentId,
        taskId: job.taskId,
        chunksPath: path(keys.chunks),
        vectorsPath: path(keys.vectors),
        embedDim: kb.embedDim,
        ...(job.fence === undefined ? {} : { fence: job.fence }),
      });
      return committed ? { kind: 'indexed', task: committed.task } : { kind: 'gone' };
    }
  }
}

/** A streamed file's stages get the task time limit once per this many bytes of it. */
const TIME_LIMIT_BYTES = 16 * 1024 * 1024;

/** Work on a streamed format grows with the file (and has no size limit), so its time limit does too. */
async function streamedTimeScale(type: DocType, name: string, sourcePath: string): Promise<number> {
  if (streamedFormat(type, name) === null) return 1;
  const size = await stat(sourcePath).then((s) => s.size, () => 0);
  return Math.max(1, Math.ceil(size / TIME_LIMIT_BYTES));
}

/**
 * Formats whose text is their bytes and that are parsed whole: anything far beyond the text limit
 * is refused unread. Plain text, CSV and JSON Lines stream (streamedFormat) and have no limit.
 */
const WHOLE_TEXT_TYPES: ReadonlySet<DocType> = new Set(['markdown', 'html', 'json']);

async function checkParseable(type: DocType, name: string, sourcePath: string, limits: ParseLimits): Promise<void> {
  if (streamedFormat(type, name) !== null) return;
  const { size } = await stat(sourcePath);
  // UTF-8 needs at most 4 bytes a character, so a larger file must exceed the character limit.
  if (WHOLE_TEXT_TYPES.has(type) && size > limits.maxTextChars * 4) {
    throw new PermanentError(`the file is larger than the ${limits.maxTextChars}-character text limit`, 'too_much_text');
  }
}

async function embed(
  pool: IngestPool,
  embedder: Embedder,
  a: { chunksPath: string; outPath: string; title: string },
  signal: AbortSignal,
  timeScale: number,
): Promise<void> {
  if (embedder.id.startsWith('hash:')) {
    await pool.run('embedHash', { chunksPath: a.chunksPath, outPath: a.outPath, dim: embedder.dim, title: a.title }, signal, timeScale);
    return;
  }
  // A remote embedder: the work is network wait, so it stays on the event loop, in the
  // provider's bulk lane, where interactive queries overtake it. The chunks are read a line at a
  // time and sent a group at a time (the embedder batches and parallelises within a group), and
  // the vectors written as they come: a large document never sits whole on the event loop.
  await mkdir(dirname(a.outPath), { recursive: true });
  const tmp = `${a.outPath}.tmp-${process.pid}-${Date.now()}`;
  const out = await open(tmp, 'w');
  try {
    let texts: string[] = [];
    const flush = async () => {
      if (texts.length === 0) return;
      const vectors = await embedder.embed(texts, { priority: 'bulk', signal });
      const rows = new Float32Array(texts.length * embedder.dim);
      vectors.forEach((v, i) => {
        if (v.length !== embedder.dim) throw new PermanentError(`embedder returned ${v.length} dimensions, expected ${embedder.dim}`);
        rows.set(v, i * embedder.dim);
      });
      await out.write(new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
      texts = [];
    };
    for await (const d of readChunksAsync(a.chunksPath)) {
      texts.push([a.title, ...d.headingPath, d.text].filter(Boolean).join('\n'));
      if (texts.length >= REMOTE_EMBED_GROUP) await flush();
    }
    await flush();
    await out.close();
    await rename(tmp, a.outPath);
  } catch (err) {
    await out.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Chunks per embedder call: enough for its batches to run side by side, bounded for big files. */
const REMOTE_EMBED_GROUP = 1024;
