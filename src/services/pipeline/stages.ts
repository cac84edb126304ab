import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PermanentError } from '../../domain/errors.js';
import type { ChunkDraft, ChunkingOptions, DocType, ParseLimits, PipelineStage, TaskView } from '../../domain/types.js';
import type { BlobStore } from '../../ports/blob-store.js';
import type { LeasedJob } from '../../ports/job-queue.js';
import type { Embedder, EmbedderResolver } from '../../ports/models.js';
import type { Store } from '../../ports/store.js';
import type { IngestPool } from '../../workers/ingest-pool.js';
import { requireKbEmbedder } from '../kb-embedder.js';
import type { ParseOutput } from '../../workers/ingest-tasks.js';
import { needsOcr, runOcrStage, type OcrDeps } from './ocr-stage.js';
import { stageKeys } from './stage-files.js';

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
  switch (job.stage satisfies PipelineStage) {
    case 'parse':
      await checkParseable(doc.type as DocType, path(doc.blobKey), deps.parseLimits);
    {
      const parsed = await deps.pool.run<ParseOutput>(
        'parse',
        { sourcePath: path(doc.blobKey), type: doc.type as DocType, outPath: path(keys.parsed), limits: deps.parseLimits },
        signal,
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
      const parsed = (await stat(path(keys.ocred)).then(() => true, () => false)) ? keys.ocred : keys.parsed;
      await deps.pool.run('chunk', { parsedPath: path(parsed), outPath: path(keys.chunks), options: deps.chunking }, signal);
      return { kind: 'next' };
    }
    case 'embed': {
      const kb = await deps.store.getKb(job.scope);
      if (!kb) return { kind: 'gone' };
      // Never into another space than the KB's: without its embedder the document fails, saying why.
      const embedder = await requireKbEmbedder(deps.embedders, kb);
      await embed(deps.pool, embedder, { chunksPath: path(keys.chunks), outPath: path(keys.vectors), title: doc.name }, signal);
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
      });
      return committed ? { kind: 'indexed', task: committed.task } : { kind: 'gone' };
    }
  }
}

/** Formats whose text is their bytes: anything far beyond the text limit is refused unread. */
const TEXT_TYPES: ReadonlySet<DocType> = new Set(['text', 'markdown', 'html', 'csv', 'json']);

async function checkParseable(type: DocType, sourcePath: string, limits: ParseLimits): Promise<void> {
  const { size } = await stat(sourcePath);
  // UTF-8 needs at most 4 bytes a character, so a larger file must exceed the character limit.
  if (TEXT_TYPES.has(type) && size > limits.maxTextChars * 4) {
    throw new PermanentError(`the file is larger than the ${limits.maxTextChars}-character text limit`, 'too_much_text');
  }
}

async function embed(
  pool: IngestPool,
  embedder: Embedder,
  a: { chunksPath: string; outPath: string; title: string },
  signal: AbortSignal,
): Promise<void> {
  if (embedder.id.startsWith('hash:')) {
    await pool.run('embedHash', { chunksPath: a.chunksPath, outPath: a.outPath, dim: embedder.dim, title: a.title }, signal);
    return;
  }
  // A remote embedder: the work is network wait, so it stays on the event loop, in the
  // provider's bulk lane, where interactive queries overtake it.
  const drafts = JSON.parse(await readFile(a.chunksPath, 'utf8')) as ChunkDraft[];
  const texts = drafts.map((d) => [a.title, ...d.headingPath, d.text].filter(Boolean).join('\n'));
  const vectors = await embedder.embed(texts, { priority: 'bulk', signal });
  const out = new Float32Array(drafts.length * embedder.dim);
  vectors.forEach((v, i) => {
    if (v.length !== embedder.dim) throw new PermanentError(`embedder returned ${v.length} dimensions, expected ${embedder.dim}`);
    out.set(v, i * embedder.dim);
  });
  await mkdir(dirname(a.outPath), { recursive: true });
  const tmp = `${a.outPath}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(tmp, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
  await rename(tmp, a.outPath);
}
