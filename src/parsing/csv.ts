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

export async function parse(bytes: Uint8Array, limits: ParseLimits): Promise<ParsedDocument> {
  const text = decodeUtf8(bytes);
  const sink = new BlockSink(limits);
  let header: string[] | null = null;
  const colName = (i: number) => header?.[i] ?? `column ${i + 1}`;
  let rows = 0;
  let lines: string[] = [];
  const flush = () => {
    if (lines.length > 0) sink.push({ kind: 'table', text: lines.join('\n'), headingPath: [] }, true);
    lines = [];
  };

  // Records are rendered as they are parsed (on_record returns null so none are kept): memory
  // stays at one block, not the whole table as arrays of strings.
  const onRecord = (record: string[]): null => {
    if (header === null) {
      header = record.map((h, i) => cleanInline(h) || `column ${i + 1}`);
      return null;
    }
    rows++;
    const parts: string[] = [];
    record.forEach((value, i) => {
      const v = cleanInline(value);
      if (v.length > 0) parts.push(`${colName(i)}: ${v}`);
    });
    if (parts.length === 0) return null;
    const line = parts.join('; ');
    // Repeating the header on every row amplifies the input, so charge before keeping it.
    sink.charge(line.length + 1);
    lines.push(line);
    if (lines.length >= ROWS_PER_BLOCK) flush();
    return null;
  };

  try {
    parseCsv(text, {
      delimiter: guessDelimiter(text),
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      // An unclosed quote would otherwise swallow the rest of the file into one field.
      max_record_size: Math.max(1024, Math.min(limits.maxTextChars, 16 * 1024 * 1024)),
      on_record: onRecord,
    });
  } catch (err) {
    if (isPermanent(err)) throw err;
    throw new PermanentError(`invalid CSV: ${(err as Error).message}`, 'invalid_csv');
  }
  flush();

  if (rows === 0 && header !== null) {
    // Only a header: it is still text worth indexing.
    const line = (header as string[]).join(' | ');
    sink.charge(line.length);
    sink.push({ kind: 'table', text: line, headingPath: [] }, true);
  }
  return sink.finish();
}
