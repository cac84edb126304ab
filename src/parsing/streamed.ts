/**
 * Parsers for formats whose text can be read a piece at a time (plain text and logs, CSV): they
 * take the file as a sequence of byte pieces and hand each block on as soon as it is complete,
 * so a 500 MB log or CSV export is parsed in flat memory. These formats have no character
 * limit: nothing here grows with the file. A file with no text at all still fails `no_text`.
 */
import { parse as csvParser } from 'csv-parse';
import { PermanentError, isPermanent } from '../domain/errors.js';
import type { DocType, ParsedBlock } from '../domain/types.js';
import { csvRecordRenderer, guessDelimiter, maxCsvRecord } from './csv.js';
import { cleanInline, stripControls } from './common.js';
import { PARAGRAPH_BREAK } from './text.js';

export type BlockEmit = (block: ParsedBlock) => void;

/**
 * A paragraph longer than this (a log has no blank lines at all) is handed on at its last line
 * break before it: the chunker then works on bounded blocks. Below it, blocks are exactly what
 * the whole-file parser makes.
 */
const MAX_BLOCK_CHARS = 256 * 1024;

export const STREAMED_TYPES: ReadonlySet<DocType> = new Set(['text', 'csv']);

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
