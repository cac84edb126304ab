/**
 * The piscina worker module for ingestion: each named export is a task (`pool.run(input,
 * { name })`). Tasks read their input from disk and write their output next to it, atomically,
 * so only small descriptors cross the thread boundary and a killed task leaves no half file.
 *
 * Failures are returned, not thrown (see stage-result.ts): a PermanentError becomes
 * `permanent: true` (the document fails at once), anything else `permanent: false` (retryable).
 * Time limits belong to the caller, which aborts the task and so terminates this thread.
 */
import { readFileSync, statSync } from 'node:fs';
import type { ChunkDraft, ChunkingOptions, DocType, ParsedDocument, ParseLimits } from '../domain/types.js';
import { chunkDocument } from '../chunking/chunker.js';
import { hashEmbed, hashEmbedOne } from '../embedding/hash-embedder.js';
import { parseBytes } from '../parsing/index.js';
import { precheckTextSize } from '../parsing/text-precheck.js';
import type { StageResult } from './stage-result.js';
import { run, writeAtomic } from './task-io.js';
import { yieldCpuToQueries } from './thread-priority.js';

// Parsing, chunking and embedding are bulk work: questions get the CPU first.
yieldCpuToQueries();

export type { StageResult } from './stage-result.js';

export interface ParseInput {
  sourcePath: string;
  type: DocType;
  outPath: string;
  limits: ParseLimits;
}
export interface ParseOutput {
  blocks: number;
  pages: number | null;
  chars: number;
  /** Pages with (almost) no text layer that paint an image: what `auto` OCR reads. */
  scanned: number;
}
export interface ChunkInput {
  parsedPath: string;
  outPath: string;
  options: ChunkingOptions;
}
export interface ChunkOutput {
  chunks: number;
  tokens: number;
}
export interface EmbedHashInput {
  chunksPath: string;
  outPath: string;
  dim: number;
  title?: string;
}
export interface EmbedHashOutput {
  count: number;
  dim: number;
}
export interface EmbedQueryInput {
  text: string;
  dim: number;
}

/*
 * File access here is synchronous on purpose. This thread has nothing else to do while a task
 * waits for its file, and the asynchronous calls would run on libuv's thread pool, whose threads
 * keep normal priority: the reads and writes of a bulk ingest would compete with questions there
 * instead of running on this thread, below them (thread-priority.ts).
 */

export function parse(input: ParseInput): Promise<StageResult<ParseOutput>> {
  return run(async () => {
    precheckTextSize(input.type, input.sourcePath, statSync(input.sourcePath).size, input.limits.maxTextChars);
    const buf = readFileSync(input.sourcePath);
    const doc = await parseBytes(input.type, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), input.limits);
    writeAtomic(input.outPath, JSON.stringify(doc));
    let chars = 0;
    for (const b of doc.blocks) chars += b.text.length;
    return { blocks: doc.blocks.length, pages: doc.pages ?? null, chars, scanned: doc.scannedPages?.length ?? 0 };
  });
}

export function chunk(input: ChunkInput): Promise<StageResult<ChunkOutput>> {
  return run(async () => {
    const doc = JSON.parse(readFileSync(input.parsedPath, 'utf8')) as ParsedDocument;
    const chunks = chunkDocument(doc, input.options);
    // Chunks never span pages, so an OCR'd page's confidence is each of its chunks'.
    const ocr = doc.ocr?.confidence;
    if (ocr) for (const c of chunks) if (c.page !== null && ocr[c.page] !== undefined) c.ocrConfidence = ocr[c.page]!;
    writeAtomic(input.outPath, JSON.stringify(chunks));
    let tokens = 0;
    for (const c of chunks) tokens += c.tokenCount;
    return { chunks: chunks.length, tokens };
  });
}

/**
 * The text that gets embedded for a chunk: title and heading path give a chunk the context its
 * own words may lack ("Installation" under "Solar panels"). The stored chunk text is unchanged.
 */
export function embeddingText(c: ChunkDraft, title?: string): string {
  const context = [title, ...c.headingPath].filter((s): s is string => !!s && s.length > 0);
  // A heading path that already starts with the title should not repeat it.
  if (context.length > 1 && context[0] === context[1]) context.shift();
  return context.length > 0 ? `${context.join(' > ')}\n\n${c.text}` : c.text;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function float32LE(v: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  const out = new Uint8Array(v.length * 4);
  const view = new DataView(out.buffer);
  v.forEach((x, i) => view.setFloat32(i * 4, x, true));
  return out;
}

export function embedHash(input: EmbedHashInput): Promise<StageResult<EmbedHashOutput>> {
  return run(async () => {
    const chunks = JSON.parse(readFileSync(input.chunksPath, 'utf8')) as ChunkDraft[];
    const vectors = hashEmbed(
      chunks.map((c) => embeddingText(c, input.title)),
      input.dim,
    );
    writeAtomic(input.outPath, float32LE(vectors));
    return { count: chunks.length, dim: input.dim };
  });
}

/** Query path: tiny and synchronous; piscina transfers the result by structured clone. */
export function embedQuery(input: EmbedQueryInput): Float32Array {
  return hashEmbedOne(input.text, input.dim);
}

/**
 * Not a task. Piscina resolves the pool's default handler ('default') when a worker starts, and
 * if the module has none it retries with ESM `import()`. Under `node --import tsx` on Node 20,
 * worker threads only get tsx's `require` hook (ESM hooks are main-thread only), so that retry
 * fails on a .ts file and kills the worker. With a default export the first, require-based load
 * succeeds and named tasks resolve from it. Harmless for the compiled .js build.
 */
export default function defaultTask(): never {
  throw new Error('ingest-tasks has no default task: call pool.run(input, { name })');
}
