/**
 * The piscina worker module for ingestion: each named export is a task (`pool.run(input,
 * { name })`). Tasks read their input from disk and write their output next to it, atomically,
 * so only small descriptors cross the thread boundary and a killed task leaves no half file.
 *
 * Failures are returned, not thrown (see stage-result.ts): a PermanentError becomes
 * `permanent: true` (the document fails at once), anything else `permanent: false` (retryable).
 * Time limits belong to the caller, which aborts the task and so terminates this thread.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { ChunkDraft, ChunkingOptions, DocType, ParsedBlock, ParseLimits } from '../domain/types.js';
import { chunkDocument } from '../chunking/chunker.js';
import { hashEmbed, hashEmbedOne } from '../embedding/hash-embedder.js';
import { PermanentError } from '../domain/errors.js';
import {
  NotJsonLinesError, parseBytes, parseCsvStream, parseJsonLinesStream, parseTextStream, streamedFormat, type BlockEmit,
} from '../parsing/index.js';
import { readBlocks, readChunks, readParsedDocument, writeAtomically, type DocumentRecord } from '../services/pipeline/stage-lines.js';
import type { StageResult } from './stage-result.js';
import { run } from './task-io.js';
import { yieldCpuToQueries } from './thread-priority.js';

// Parsing, chunking and embedding are bulk work: questions get the CPU first.
yieldCpuToQueries();

export type { StageResult } from './stage-result.js';

export interface ParseInput {
  sourcePath: string;
  type: DocType;
  /** The document's name: a `.jsonl` JSON file is JSON Lines, which streams (streamed.ts). */
  name?: string;
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
  /** The file is the `ocr` stage's output: its pages' OCR confidence goes onto their chunks. */
  ocred?: boolean;
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

/** The file a piece at a time (1 MB), for the parsers that stream. */
function* filePieces(path: string): Generator<Uint8Array> {
  const fd = openSync(path, 'r');
  try {
    const piece = Buffer.allocUnsafe(1024 * 1024);
    for (let n = readSync(fd, piece, 0, piece.length, null); n > 0; n = readSync(fd, piece, 0, piece.length, null)) {
      yield piece.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * A file named JSON Lines that is not, read whole instead: refused unread beyond the text limit,
 * as stages.ts refuses the formats parsed whole (UTF-8 takes at most 4 bytes a character).
 */
function checkWholeTextSize(path: string, limits: ParseLimits, why: Error): void {
  if (statSync(path).size > limits.maxTextChars * 4) {
    throw new PermanentError(`${why.message} (and the file is too large to be read as one JSON value)`, 'invalid_json');
  }
}

/** Writes the parsed blocks one per line (stage-lines.ts), as the parser streams them or at once. */
export function parse(input: ParseInput): Promise<StageResult<ParseOutput>> {
  return run(() =>
    writeAtomically(input.outPath, async (out) => {
      let blocks = 0;
      let chars = 0;
      let streamedFallback = false;
      const emit: BlockEmit = (b) => {
        out.writeRecord(b);
        blocks++;
        chars += b.text.length;
      };
      const streamed = streamedFormat(input.type, input.name ?? '');
      if (streamed === 'text') parseTextStream(filePieces(input.sourcePath), emit);
      else if (streamed === 'csv') await parseCsvStream(filePieces(input.sourcePath), emit);
      else if (streamed === 'jsonl') {
        try {
          parseJsonLinesStream(filePieces(input.sourcePath), emit);
        } catch (err) {
          // Not JSON Lines after all (nothing was emitted yet): one JSON value, parsed whole below.
          if (!(err instanceof NotJsonLinesError)) throw err;
          checkWholeTextSize(input.sourcePath, input.limits, err);
          streamedFallback = true;
        }
      }
      if (streamed !== null && !streamedFallback) return { blocks, pages: null, chars, scanned: 0 };
      const buf = readFileSync(input.sourcePath);
      const doc = await parseBytes(input.type, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), input.limits);
      doc.blocks.forEach(emit);
      const { blocks: _, ...fields } = doc;
      if (Object.keys(fields).length > 0) out.writeRecord({ document: fields } satisfies DocumentRecord);
      return { blocks, pages: doc.pages ?? null, chars, scanned: doc.scannedPages?.length ?? 0 };
    }),
  );
}

/**
 * Blocks are chunked a group at a time, about this many characters: a whole section when it is
 * smaller, so documents up to this size chunk exactly as a whole. A longer section (a log is one
 * section) is cut between two blocks, where no overlap carries over.
 */
const CHUNK_GROUP_CHARS = 512 * 1024;

export function chunk(input: ChunkInput): Promise<StageResult<ChunkOutput>> {
  return run(() =>
    writeAtomically(input.outPath, (out) => {
      // An OCR'd document is bounded (RAGD_OCR_MAX_PAGES), so it is read whole for its confidences.
      // Chunks never span pages, so an OCR'd page's confidence is each of its chunks'.
      const confidence = input.ocred ? readParsedDocument(input.parsedPath).ocr?.confidence : undefined;
      let chunks = 0;
      let tokens = 0;
      let group: ParsedBlock[] = [];
      let groupChars = 0;
      const flush = () => {
        for (const c of chunkDocument({ blocks: group }, input.options)) {
          if (confidence && c.page !== null && confidence[c.page] !== undefined) c.ocrConfidence = confidence[c.page]!;
          out.writeRecord({ ...c, ordinal: chunks++ });
          tokens += c.tokenCount;
        }
        group = [];
        groupChars = 0;
      };
      for (const b of readBlocks(input.parsedPath)) {
        // A heading stays with what follows it (the chunker merges heading-only sections forward).
        if (groupChars >= CHUNK_GROUP_CHARS && group[group.length - 1]?.kind !== 'heading') flush();
        group.push(b);
        groupChars += b.text.length;
      }
      flush();
      return { chunks, tokens };
    }),
  );
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

/** Chunks embedded this many at a time, so a document's vectors are written as they come. */
const EMBED_BATCH = 256;

export function embedHash(input: EmbedHashInput): Promise<StageResult<EmbedHashOutput>> {
  return run(() =>
    writeAtomically(input.outPath, (out) => {
      let count = 0;
      let texts: string[] = [];
      const flush = () => {
        if (texts.length > 0) out.write(float32LE(hashEmbed(texts, input.dim)));
        texts = [];
      };
      for (const c of readChunks(input.chunksPath)) {
        texts.push(embeddingText(c, input.title));
        count++;
        if (texts.length >= EMBED_BATCH) flush();
      }
      flush();
      return { count, dim: input.dim };
    }),
  );
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
