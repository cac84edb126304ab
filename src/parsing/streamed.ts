/**
 * Parsers for formats whose text can be read a piece at a time (plain text and logs, CSV, JSON
 * Lines): they
 * take the file as a sequence of byte pieces and hand each block on as soon as it is complete,
 * so a 500 MB log or CSV export is parsed in flat memory. These formats have no character
 * limit: nothing here grows with the file. A file with no text at all still fails `no_text`.
 */
import { parse as csvParser } from 'csv-parse';
import { PermanentError, isPermanent } from '../domain/errors.js';
import type { DocType, ParsedBlock } from '../domain/types.js';
import { csvRecordRenderer, guessDelimiter, maxCsvRecord } from './csv.js';
import { cleanInline, stripControls } from './common.js';
import { JsonBlockBuilder, recordPath } from './json.js';
import { extensionOf } from './sniff.js';
import { PARAGRAPH_BREAK } from './text.js';

export type BlockEmit = (block: ParsedBlock) => void;

/**
 * A paragraph longer than this (a log has no blank lines at all) is handed on at its last line
 * break before it: the chunker then works on bounded blocks. Below it, blocks are exactly what
 * the whole-file parser makes.
 */
const MAX_BLOCK_CHARS = 256 * 1024;

export type StreamedFormat = 'text' | 'csv' | 'jsonl';

/** JSON Lines goes by its name: a `.json` file is one value, which only a whole-file parse can read. */
const JSON_LINES_EXTENSIONS: readonly string[] = ['.jsonl', '.ndjson'];

/** How a document of this type and name is parsed a piece at a time, or null when it is parsed whole. */
export function streamedFormat(type: DocType, name: string): StreamedFormat | null {
  if (type === 'text' || type === 'csv') return type;
  if (type === 'json' && JSON_LINES_EXTENSIONS.includes(extensionOf(name))) return 'jsonl';
  return null;
}

/** Strict UTF-8 across piece boundaries (a character split between two pieces decodes whole). */
function utf8Pieces(pieces: Iterable<Uint8Array>): Generator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return (function* () {
    try {
      for (const p of pieces) yield decoder.decode(p, { stream: true });
      yield decoder.decode();
    } catch (err) {
      if (err instanceof TypeError) throw new PermanentError('invalid UTF-8: the file is not UTF-8 encoded text', 'invalid_utf8');
      throw err;
    }
  })();
}

/** Counts what was emitted, so a file without text fails as the whole-file parsers do. */
function counting(emit: BlockEmit): { emit: BlockEmit; finish(): void } {
  let blocks = 0;
  return {
    emit(b) {
      if (b.text.length === 0) return;
      blocks++;
      emit(b);
    },
    finish() {
      if (blocks === 0) throw new PermanentError('no text could be extracted', 'no_text');
    },
  };
}

/** Plain text, as text.ts parses it: paragraphs between blank lines, line breaks as spaces. */
export function parseTextStream(pieces: Iterable<Uint8Array>, emitBlock: BlockEmit): void {
  const out = counting(emitBlock);
  const paragraph = (text: string) => out.emit({ kind: 'paragraph', text: cleanInline(text), headingPath: [] });
  let buffer = '';
  let heldCr = '';
  for (let piece of utf8Pieces(pieces)) {
    // A "\r\n" split between two pieces must still become one line break.
    piece = heldCr + piece;
    heldCr = piece.endsWith('\r') ? '\r' : '';
    if (heldCr) piece = piece.slice(0, -1);
    buffer += stripControls(piece);
    // Everything before the last paragraph break is complete: split it as the whole-file parser would.
    let cut = -1;
    for (const m of buffer.matchAll(PARAGRAPH_BREAK)) cut = m.index + m[0].length;
    if (cut >= 0) {
      const done = buffer.slice(0, cut);
      buffer = buffer.slice(cut);
      for (const para of done.split(PARAGRAPH_BREAK)) paragraph(para);
    }
    while (buffer.length > MAX_BLOCK_CHARS) {
      const nl = buffer.lastIndexOf('\n', MAX_BLOCK_CHARS);
      const at = nl > 0 ? nl : MAX_BLOCK_CHARS;
      paragraph(buffer.slice(0, at));
      buffer = buffer.slice(at);
    }
  }
  paragraph(buffer + stripControls(heldCr));
  out.finish();
}

/** CSV, as csv.ts parses it, through csv-parse's incremental parser. */
export async function parseCsvStream(pieces: Iterable<Uint8Array>, emitBlock: BlockEmit): Promise<void> {
  const out = counting(emitBlock);
  const render = csvRecordRenderer((text) => out.emit({ kind: 'table', text, headingPath: [] }));
  let parser: ReturnType<typeof csvParser> | null = null;
  let failed: unknown = null;
  const fail = (err: unknown) => {
    failed ??= isPermanent(err) ? err : new PermanentError(`invalid CSV: ${(err as Error).message}`, 'invalid_csv');
  };
  // The delimiter is guessed from the first line, so text is held until it is complete.
  let head = '';
  const start = (text: string) =>
    csvParser({
      delimiter: guessDelimiter(text),
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      max_record_size: maxCsvRecord(Number.POSITIVE_INFINITY),
      // Records are rendered as they are parsed and none is kept (see csv.ts).
      on_record: (record: string[]) => {
        try {
          render.record(record);
        } catch (err) {
          fail(err);
        }
        return null;
      },
    }).on('error', fail);
  for (const text of utf8Pieces(pieces)) {
    if (parser) {
      if (text.length > 0) parser.write(text);
    } else {
      head += text;
      if (!/[\r\n]/.test(head) && head.length < 65536) continue;
      parser = start(head);
      parser.write(head);
      head = '';
    }
    if (failed) throw failed;
  }
  if (!parser && head.length > 0) {
    parser = start(head);
    parser.write(head);
  }
  if (parser) {
    const p = parser;
    // Nothing reads the parser's output (every record returns null), so it must not wait for a reader.
    p.resume();
    await new Promise<void>((resolve) => {
      p.once('finish', resolve).once('error', () => resolve());
      p.end();
    });
  }
  if (failed) throw failed;
  render.finish();
  out.finish();
}

/**
 * Longest JSON Lines record: a "JSON Lines" file without line breaks would otherwise be read whole
 * as one line. A record is parsed whole (JSON.parse), so this also bounds one record's memory.
 */
export const MAX_JSONL_RECORD_BYTES = 16 * 1024 * 1024;

/**
 * The first record of a `.jsonl` file is not JSON on its own: most likely one JSON value spread
 * over lines (pretty-printed JSON given the JSON Lines name), which the whole-file parser reads.
 */
export class NotJsonLinesError extends PermanentError {
  constructor(message: string) {
    super(message, 'invalid_json');
  }
}

/**
 * JSON Lines, one record at a time: each record's text is extracted and grouped into blocks as
 * json.ts does for a JSON Lines file parsed whole (paths `[0].key`, `[1].key`…, blank lines
 * skipped), holding only the line being read and the block being filled.
 */
export function parseJsonLinesStream(pieces: Iterable<Uint8Array>, emitBlock: BlockEmit, maxRecordBytes = MAX_JSONL_RECORD_BYTES): void {
  const out = counting(emitBlock);
  const builder = new JsonBlockBuilder(out.emit);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let lineNo = 0;
  let records = 0;
  // The bytes of the line being read, as they arrived (a newline byte never occurs inside a UTF-8 character).
  let partial: Uint8Array[] = [];
  let partialBytes = 0;
  const tooLong = () =>
    new PermanentError(
      `line ${lineNo + 1} of the JSON Lines file is longer than ${Math.round(maxRecordBytes / (1024 * 1024))} MB: a record must fit on one line of at most that size`,
      'too_large',
    );
  const line = (bytes: Uint8Array) => {
    lineNo++;
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw new PermanentError('invalid UTF-8: the file is not UTF-8 encoded text', 'invalid_utf8');
    }
    if (text.trim().length === 0) return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      const msg = `invalid JSON: line ${lineNo}: ${(err as Error).message}`;
      throw records === 0 ? new NotJsonLinesError(msg) : new PermanentError(msg, 'invalid_json');
    }
    builder.add(value, recordPath(records++));
  };
  for (const piece of pieces) {
    let start = 0;
    for (let nl = piece.indexOf(0x0a, start); nl !== -1; nl = piece.indexOf(0x0a, start)) {
      if (partialBytes + nl - start > maxRecordBytes) throw tooLong();
      if (partialBytes === 0) line(piece.subarray(start, nl));
      else {
        partial.push(piece.subarray(start, nl));
        line(Buffer.concat(partial, partialBytes + nl - start));
        partial = [];
        partialBytes = 0;
      }
      start = nl + 1;
    }
    if (start < piece.length) {
      partialBytes += piece.length - start;
      if (partialBytes > maxRecordBytes) throw tooLong();
      // A copy: the caller may reuse the piece's memory for the next one.
      partial.push(new Uint8Array(piece.subarray(start)));
    }
  }
  if (partialBytes > 0) line(Buffer.concat(partial, partialBytes));
  builder.flush();
  out.finish();
}
