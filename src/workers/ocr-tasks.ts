/**
 * The piscina worker module for OCR: rendering a page to a PNG, reading a PNG with a local
 * engine, and merging the OCR'd pages into the parsed document. It runs in its own small pool at
 * the lowest CPU priority (thread-priority.ts), so a 200-page scan leaves the cores to questions.
 * Inputs and outputs are files; failures are returned as values (stage-result.ts).
 */
import { readFileSync } from 'node:fs';
import { readParsedDocument } from '../services/pipeline/stage-lines.js';
import type { DocType, OcrMode, ParsedBlock, ParsedDocument } from '../domain/types.js';
import { createRecognizer, type LocalEngineName, type OcrLine, type Recognizer } from '../ocr/recognizer.js';
import { renderImage, renderPdfPage, type RenderLimits } from '../ocr/render.js';
import type { StageResult } from './stage-result.js';
import { run, writeAtomic } from './task-io.js';
import { yieldCpuToQueries } from './thread-priority.js';

yieldCpuToQueries();

export interface PlanInput {
  parsedPath: string;
  mode: OcrMode;
}
export interface PlanOutput {
  /** The pages to OCR, ascending. */
  pages: number[];
}
export interface RenderInput {
  sourcePath: string;
  type: DocType;
  page: number;
  outPath: string;
  limits: RenderLimits;
}
export interface RenderOutput {
  width: number;
  height: number;
}
export interface RecognizeInput {
  imagePath: string;
  engine: LocalEngineName;
}
export interface MergeInput {
  parsedPath: string;
  outPath: string;
  mode: OcrMode;
  engine: string;
  /** Each OCR'd page's lines (pages that failed are absent). */
  pagePaths: Record<number, string>;
}
export interface MergeOutput {
  pages: number[];
}

/** Which pages need OCR: none when off, every page when forced, else the scanned ones parse found. */
export function plan(input: PlanInput): Promise<StageResult<PlanOutput>> {
  return run(async () => {
    const doc = readParsedDocument(input.parsedPath);
    if (input.mode === 'off') return { pages: [] };
    if (input.mode === 'force') return { pages: Array.from({ length: doc.pages ?? 0 }, (_, i) => i + 1) };
    return { pages: [...(doc.scannedPages ?? [])].sort((a, b) => a - b) };
  });
}

export function renderPage(input: RenderInput): Promise<StageResult<RenderOutput>> {
  return run(async () => {
    const read = () => new Uint8Array(readFileSync(input.sourcePath));
    const page =
      input.type === 'pdf' ? await renderPdfPage(input.sourcePath, read, input.page, input.limits) : await renderImage(read(), input.limits);
    writeAtomic(input.outPath, page.png);
    return { width: page.width, height: page.height };
  });
}

/** One recognizer per engine per thread: loading the models takes seconds, a page less. */
const recognizers = new Map<LocalEngineName, Promise<Recognizer>>();

function recognizer(engine: LocalEngineName): Promise<Recognizer> {
  let r = recognizers.get(engine);
  if (!r) {
    r = createRecognizer(engine);
    recognizers.set(engine, r);
    r.catch(() => recognizers.delete(engine));
  }
  return r;
}

/** Loads the engine's models, so that the per-page time limit does not include them. */
export function warm(input: { engine: LocalEngineName }): Promise<StageResult<null>> {
  return run(async () => (await recognizer(input.engine), null));
}

export function recognize(input: RecognizeInput): Promise<StageResult<OcrLine[]>> {
  return run(async () => (await recognizer(input.engine)).recognize(new Uint8Array(readFileSync(input.imagePath))));
}

/**
 * The parsed document with each OCR'd page's text as one paragraph on that page. `force` replaces
 * the page's text layer (often the reason to force is a broken one); `auto` OCRs only pages without
 * one. The result records the engine and each page's mean line confidence, for the chunks.
 */
export function merge(input: MergeInput): Promise<StageResult<MergeOutput>> {
  return run(async () => {
    const doc = readParsedDocument(input.parsedPath);
    const ocrBlocks = new Map<number, ParsedBlock>();
    const confidence: Record<number, number> = {};
    for (const [key, path] of Object.entries(input.pagePaths)) {
      const page = Number(key);
      const { lines } = JSON.parse(readFileSync(path, 'utf8')) as { lines: { text: string; confidence: number | null }[] };
      const text = lines.map((l) => l.text).join('\n').trim();
      const scores = lines.map((l) => l.confidence).filter((c): c is number => c !== null);
      if (scores.length > 0) confidence[page] = Math.round((scores.reduce((a, b) => a + b, 0) / scores.length) * 1000) / 1000;
      if (text) ocrBlocks.set(page, { kind: 'paragraph', text, headingPath: [], page });
    }
    const replaced = input.mode === 'force' ? new Set(Object.keys(input.pagePaths).map(Number)) : new Set<number>();
    const blocks: ParsedBlock[] = [];
    const pending = [...ocrBlocks.keys()].sort((a, b) => a - b);
    // Blocks stay in page order: an OCR'd page's paragraph goes before the first block of a later page.
    for (const b of doc.blocks) {
      while (pending.length > 0 && b.page !== undefined && pending[0]! <= b.page) blocks.push(ocrBlocks.get(pending.shift()!)!);
      if (b.page !== undefined && replaced.has(b.page)) continue;
      blocks.push(b);
    }
    for (const p of pending) blocks.push(ocrBlocks.get(p)!);
    writeAtomic(input.outPath, JSON.stringify({ ...doc, blocks, ocr: { engine: input.engine, confidence } } satisfies ParsedDocument));
    return { pages: Object.keys(input.pagePaths).map(Number).sort((a, b) => a - b) };
  });
}

/** Not a task: lets piscina load this module through `require` under tsx (see ingest-tasks.ts). */
export default function defaultTask(): never {
  throw new Error('ocr-tasks has no default task: call pool.run(input, { name })');
}
