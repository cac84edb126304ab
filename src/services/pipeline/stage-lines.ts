/**
 * Stage files hold one JSON record per line (parsed blocks, chunk drafts), so every stage reads
 * and writes them a piece at a time: a 500 MB log goes through parse, chunk, embed and the index
 * commit without any of them holding the whole document. JSON.stringify never writes a raw
 * newline inside a value, so a newline always ends a record.
 *
 * A file written whole by an earlier version (one JSON array of chunks, or one ParsedDocument
 * object) reads as its elements, so a job left mid-pipeline by an upgrade still finishes.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { ChunkDraft, ParsedBlock, ParsedDocument } from '../../domain/types.js';

const PIECE = 1024 * 1024;
const NEWLINE = 0x0a;

/** Each line of `path` parsed as JSON, read 1 MB at a time (synchronous: worker threads, the writer). */
export function* readJsonLines(path: string): Generator<unknown> {
  const fd = openSync(path, 'r');
  try {
    const piece = Buffer.allocUnsafe(PIECE);
    let rest: Buffer | null = null;
    for (let n = readSync(fd, piece, 0, PIECE, null); n > 0; n = readSync(fd, piece, 0, PIECE, null)) {
      const buf: Buffer = rest ? Buffer.concat([rest, piece.subarray(0, n)]) : piece.subarray(0, n);
      let start = 0;
      for (let nl = buf.indexOf(NEWLINE, start); nl !== -1; nl = buf.indexOf(NEWLINE, start)) {
        if (nl > start) yield JSON.parse(buf.toString('utf8', start, nl));
        start = nl + 1;
      }
      // A copy: `piece` is overwritten by the next read.
      rest = start < buf.length ? Buffer.from(buf.subarray(start)) : null;
    }
    if (rest && rest.length > 0) yield JSON.parse(rest.toString('utf8'));
  } finally {
    closeSync(fd);
  }
}

/** The same, on the event loop, without blocking it for more than a line. */
export async function* readJsonLinesAsync(path: string): AsyncGenerator<unknown> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) if (line.length > 0) yield JSON.parse(line);
}

/** The parsed file's record of the document's own fields (pages, title), apart from its blocks. */
export interface DocumentRecord {
  document: Omit<ParsedDocument, 'blocks'>;
}

/** A record of an older whole-file format, unwrapped to the records it holds. */
function unwrapBlocks(r: unknown): ParsedBlock[] {
  if (Array.isArray(r)) return r as ParsedBlock[];
  const doc = r as { blocks?: unknown; kind?: unknown; document?: unknown };
  if (doc.kind === undefined && Array.isArray(doc.blocks)) return doc.blocks as ParsedBlock[];
  if (doc.kind === undefined && doc.document !== undefined) return [];
  return [r as ParsedBlock];
}

export function* readBlocks(path: string): Generator<ParsedBlock> {
  for (const r of readJsonLines(path)) yield* unwrapBlocks(r);
}

/** A parsed file as one document, for work that needs it whole (a PDF's pages, say). */
export function readParsedDocument(path: string): ParsedDocument {
  const doc: ParsedDocument = { blocks: [] };
  for (const r of readJsonLines(path)) {
    const rec = r as Partial<DocumentRecord> & { blocks?: unknown; kind?: unknown; pages?: number; title?: string };
    if (rec.kind === undefined && rec.document !== undefined) Object.assign(doc, rec.document);
    else if (rec.kind === undefined && Array.isArray(rec.blocks)) Object.assign(doc, rec, { blocks: [...doc.blocks, ...rec.blocks] });
    else doc.blocks.push(...unwrapBlocks(r));
  }
  return doc;
}

export function* readChunks(path: string): Generator<ChunkDraft> {
  for (const r of readJsonLines(path)) yield* Array.isArray(r) ? (r as ChunkDraft[]) : [r as ChunkDraft];
}

export async function* readChunksAsync(path: string): AsyncGenerator<ChunkDraft> {
  for await (const r of readJsonLinesAsync(path)) yield* Array.isArray(r) ? (r as ChunkDraft[]) : [r as ChunkDraft];
}

/**
 * A file written through a sibling temp file and renamed into place on commit: readers see the
 * old file or the whole new one, and a failed or killed stage leaves no half file under the
 * real name. Writes are gathered to about 1 MB before they reach the disk.
 */
export class AtomicFileWriter {
  private readonly tmp: string;
  private readonly fd: number;
  private pending: (string | Uint8Array)[] = [];
  private pendingBytes = 0;

  constructor(private readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
    this.fd = openSync(this.tmp, 'w');
  }

  write(data: string | Uint8Array): void {
    this.pending.push(data);
    // Characters count as bytes here; the bound only needs to be rough.
    this.pendingBytes += data.length;
    if (this.pendingBytes >= PIECE) this.flush();
  }

  /** One JSON record and its newline. */
  writeRecord(record: unknown): void {
    this.write(`${JSON.stringify(record)}\n`);
  }

  private flush(): void {
    const data = Buffer.concat(this.pending.map((d) => (typeof d === 'string' ? Buffer.from(d, 'utf8') : d)));
    // writeSync may write less than asked; the rest follows.
    for (let at = 0; at < data.length; ) at += writeSync(this.fd, data, at, data.length - at);
    this.pending = [];
    this.pendingBytes = 0;
  }

  commit(): void {
    try {
      this.flush();
    } catch (err) {
      this.abort();
      throw err;
    }
    closeSync(this.fd);
    renameSync(this.tmp, this.path);
  }

  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      // Already closed: only the temp file is left to remove.
    }
    rmSync(this.tmp, { force: true });
  }
}

/** Write a stage file through `fill`; on any failure nothing is left behind. */
export async function writeAtomically<T>(path: string, fill: (out: AtomicFileWriter) => T | Promise<T>): Promise<T> {
  const out = new AtomicFileWriter(path);
  try {
    const result = await fill(out);
    out.commit();
    return result;
  } catch (err) {
    out.abort();
    throw err;
  }
}
