/**
 * CSV: the first record is the header; each data row becomes a `col: value; col: value` line
 * (so a chunk is self-describing even far from the header), grouped ROWS_PER_BLOCK to a
 * 'table' block. The delimiter (, ; tab |) is guessed from the first line.
 */
import { parse as parseCsv } from 'csv-parse/sync';
import { PermanentError, isPermanent } from '../domain/errors.js';
import type { ParsedDocument, ParseLimits } from '../domain/types.js';
import { BlockSink, cleanInline, decodeUtf8 } from './common.js';

const ROWS_PER_BLOCK = 20;
const DELIMITERS = [',', ';', '\t', '|'] as const;

/** The candidate delimiter that occurs most often (outside quotes) in the first line. */
export function guessDelimiter(text: string): string {
  const counts = new Map<string, number>(DELIMITERS.map((d) => [d, 0]));
  let quoted = false;
  const end = Math.min(text.length, 65536);
  for (let i = 0; i < end; i++) {
    const c = text[i]!;
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === '\n' || c === '\r')) break;
    else if (!quoted && counts.has(c)) counts.set(c, counts.get(c)! + 1);
  }
  let best = ',';
  let bestCount = 0;
  for (const [d, n] of counts) {
    if (n > bestCount) {
      best = d;
      bestCount = n;
    }
  }
  return best;
}

/** Longest record csv-parse accepts: an unclosed quote would otherwise swallow the rest of the file into one field. */
export const maxCsvRecord = (maxTextChars: number) => Math.max(1024, Math.min(maxTextChars, 16 * 1024 * 1024));

/**
 * Renders records as they are parsed: the first is the header, each later one a
 * `col: value; col: value` line, ROWS_PER_BLOCK lines to a table block handed to `emit`.
 * `charge` is told each line's length before it is kept (repeating the header on every row
 * amplifies the input). Nothing but one block is held, not the table as arrays of strings.
 */
export function csvRecordRenderer(emit: (text: string) => void, charge: (chars: number) => void = () => {}) {
  let header: string[] | null = null;
  const colName = (i: number) => header?.[i] ?? `column ${i + 1}`;
  let rows = 0;
  let lines: string[] = [];
  const flush = () => {
    if (lines.length > 0) emit(lines.join('\n'));
    lines = [];
  };
  return {
    record(record: string[]): void {
      if (header === null) {
        header = record.map((h, i) => cleanInline(h) || `column ${i + 1}`);
        return;
      }
      rows++;
      const parts: string[] = [];
      record.forEach((value, i) => {
        const v = cleanInline(value);
        if (v.length > 0) parts.push(`${colName(i)}: ${v}`);
      });
      if (parts.length === 0) return;
      const line = parts.join('; ');
      charge(line.length + 1);
      lines.push(line);
      if (lines.length >= ROWS_PER_BLOCK) flush();
    },
    finish(): void {
      flush();
      if (rows === 0 && header !== null) {
        // Only a header: it is still text worth indexing.
        const line = header.join(' | ');
        charge(line.length);
        emit(line);
      }
    },
  };
}

export async function parse(bytes: Uint8Array, limits: ParseLimits): Promise<ParsedDocument> {
  const text = decodeUtf8(bytes);
  const sink = new BlockSink(limits);
  const render = csvRecordRenderer(
    (block) => sink.push({ kind: 'table', text: block, headingPath: [] }, true),
    (chars) => sink.charge(chars),
  );
  try {
    parseCsv(text, {
      delimiter: guessDelimiter(text),
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      max_record_size: maxCsvRecord(limits.maxTextChars),
      // on_record returns null so csv-parse keeps no record.
      on_record: (record: string[]): null => (render.record(record), null),
    });
  } catch (err) {
    if (isPermanent(err)) throw err;
    throw new PermanentError(`invalid CSV: ${(err as Error).message}`, 'invalid_csv');
  }
  render.finish();
  return sink.finish();
}
