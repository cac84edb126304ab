import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isPermanent, PermanentError } from '../../domain/errors.js';
import type { DocType, OcrMode, Scope } from '../../domain/types.js';
import type { BlobStore } from '../../ports/blob-store.js';
import type { OcrEngine, OcrResult } from '../../ports/models.js';
import type { Store } from '../../ports/store.js';
import type { OcrPool } from '../../workers/ocr-pool.js';
import type { MergeOutput, PlanOutput, RenderOutput } from '../../workers/ocr-tasks.js';
import { stageKeys } from './stage-files.js';

/** What the `ocr` stage needs: the engine (behind its port), the OCR pool, and the limits. */
export interface OcrDeps {
  engine: OcrEngine;
  pool: OcrPool;
  dpi: number;
  maxPages: number;
  maxPixels: number;
}

/** Whether a document's parse result leaves anything for OCR; when not, the stage is skipped. */
export function needsOcr(mode: OcrMode, type: DocType, parsed: { pages: number | null; scanned: number }): boolean {
  if (mode === 'off' || (type !== 'pdf' && type !== 'image')) return false;
  return mode === 'force' ? (parsed.pages ?? 0) > 0 : parsed.scanned > 0;
}

const exists = (path: string) => stat(path).then(() => true, () => false);

/**
 * The `ocr` stage: each page that needs it is rendered to a PNG (OCR pool), read by the engine,
 * and its lines written to a file of its own, atomically. A rerun (a retry, or another process
 * after a crash) skips the pages whose file exists, so a crash after page 40 of 80 redoes only
 * the other 40. Then the pages are merged into the parsed document (OCR pool: the JSON can be
 * large) and the document records which pages were OCR'd and by which engine.
 *
 * A page that cannot be read (corrupt, too large) fails alone, named in the log and left out;
 * when every page fails, so does the document, with the first page's error.
 */
export async function runOcrStage(
  a: {
    ocr: OcrDeps;
    store: Store;
    blobs: BlobStore;
    scope: Scope;
    documentId: string;
    type: DocType;
    sourcePath: string;
    mode: OcrMode;
    signal: AbortSignal;
    progress: (done: number, total: number) => Promise<void>;
    onPageFailed?: (page: number, err: unknown) => void;
  },
): Promise<void> {
  const keys = stageKeys(a.scope, a.documentId);
  const path = (key: string) => a.blobs.pathOf(key);
  const { pages } = await a.ocr.pool.run<PlanOutput>('plan', { parsedPath: path(keys.parsed), mode: a.mode }, a.signal);
  if (pages.length > a.ocr.maxPages) {
    throw new PermanentError(`${pages.length} pages need OCR, more than the limit of ${a.ocr.maxPages} (RAGD_OCR_MAX_PAGES)`, 'too_many_pages');
  }
  const done: Record<number, string> = {};
  const engines = new Set<string>();
  let firstError: unknown = null;
  let finished = 0;
  for (const page of pages) {
    a.signal.throwIfAborted();
    const out = path(keys.ocrPage(page));
    if (!(await exists(out))) {
      try {
        const result = await readPage(a, page);
        await writeAtomic(out, JSON.stringify(result));
      } catch (err) {
        if (!isPermanent(err) || a.signal.aborted) throw err; // retried: the pages done so far are kept
        firstError ??= err;
        a.onPageFailed?.(page, err);
      }
    }
    if (await exists(out)) {
      const { engine } = JSON.parse(await readFile(out, 'utf8')) as OcrResult;
      engines.add(engine);
      done[page] = out;
    }
    await a.progress(++finished, pages.length);
  }
  if (pages.length > 0 && Object.keys(done).length === 0) throw firstError ?? new PermanentError('no page could be OCR\'d');
  const engine = [...engines].join(', ');
  const merged = await a.ocr.pool.run<MergeOutput>(
    'merge',
    { parsedPath: path(keys.parsed), outPath: path(keys.ocred), mode: a.mode, engine, pagePaths: done },
    a.signal,
  );
  await a.store.recordOcr(a.scope, a.documentId, { mode: a.mode, ...(engine ? { engine } : {}), pages: merged.pages });
}

async function readPage(
  a: { ocr: OcrDeps; blobs: BlobStore; scope: Scope; documentId: string; type: DocType; sourcePath: string; signal: AbortSignal },
  page: number,
): Promise<OcrResult> {
  const keys = stageKeys(a.scope, a.documentId);
  const imagePath = a.blobs.pathOf(keys.ocrImage(page));
  const size = await a.ocr.pool.run<RenderOutput>(
    'renderPage',
    { sourcePath: a.sourcePath, type: a.type, page, outPath: imagePath, limits: { dpi: a.ocr.dpi, maxPixels: a.ocr.maxPixels } },
    a.signal,
  );
  try {
    return await a.ocr.engine.recognize({ path: imagePath, ...size }, { priority: 'bulk', signal: a.signal });
  } finally {
    await rm(imagePath, { force: true });
  }
}

async function writeAtomic(path: string, data: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
