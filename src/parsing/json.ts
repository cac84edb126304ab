/**
 * JSON and JSONL: every leaf becomes a `path.to.key: value` line. Top-level members (or
 * records, for arrays and JSONL) are kept together where they fit in LINES_PER_BLOCK lines,
 * so one block never mixes a fragment of one record with another unnecessarily.
 */
import { PermanentError } from '../domain/errors.js';
import type { ParsedBlock, ParsedDocument, ParseLimits } from '../domain/types.js';
import { BlockSink, cleanInline, decodeUtf8 } from './common.js';

const LINES_PER_BLOCK = 20;
const IDENT = /^[A-Za-z_$][\w$-]*$/;

function keyPath(parent: string, key: string): string {
  if (IDENT.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

function leafText(v: unknown): string {
  if (typeof v === 'string') return cleanInline(v);
  return String(v); // number, boolean, null
}

/**
 * Depth-first, document-order walk with an explicit stack: recursion would overflow on
 * hostile nesting (`[[[[…]]]]`), which must fail or succeed cleanly, not crash the worker.
 */
function* flatten(root: unknown, rootPath: string): Generator<string> {
  const stack: { value: unknown; path: string }[] = [{ value: root, path: rootPath }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: `${path}[${i}]` });
    } else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value as Record<string, unknown>);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, v] = entries[i]!;
        stack.push({ value: v, path: keyPath(path, k) });
      }
    } else {
      const text = leafText(value);
      if (text.length > 0) yield path === '' ? text : `${path}: ${text}`;
    }
  }
}

/** Top-level groups: members of a root object, elements of a root array, or JSONL records. */
function* groups(root: unknown, jsonl: boolean): Generator<{ value: unknown; path: string }> {
  if (jsonl || Array.isArray(root)) {
    const items = root as unknown[];
    for (let i = 0; i < items.length; i++) yield { value: items[i], path: recordPath(i) };
  } else if (root !== null && typeof root === 'object') {
    for (const [k, v] of Object.entries(root as Record<string, unknown>)) yield { value: v, path: keyPath('', k) };
  } else {
    yield { value: root, path: '' };
  }
}

function parseJsonOrJsonl(text: string): { root: unknown; jsonl: boolean } {
  try {
    return { root: JSON.parse(text), jsonl: false };
  } catch (wholeErr) {
    const lines = text.split('\n');
    const nonEmpty = lines.filter((l) => l.trim().length > 0);
    if (nonEmpty.length < 2) throw new PermanentError(`invalid JSON: ${(wholeErr as Error).message}`, 'invalid_json');
    const records: unknown[] = [];
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.trim().length === 0) continue;
      try {
        records.push(JSON.parse(line));
      } catch (err) {
        // If even the first line is not JSON, the whole-document error is the better message.
        const msg = records.length === 0 ? (wholeErr as Error).message : `line ${i + 1}: ${(err as Error).message}`;
        throw new PermanentError(`invalid JSON: ${msg}`, 'invalid_json');
      }
    }
    return { root: records, jsonl: true };
  }
}

/**
 * Gathers the leaf lines of top-level groups into blocks of up to LINES_PER_BLOCK lines, keeping a
 * group whole where it fits. Only the lines of the block being filled are held, so the streamed
 * JSON Lines parser (streamed.ts) builds the very blocks the whole-file parser does.
 */
export class JsonBlockBuilder {
  private lines: string[] = [];

  constructor(
    private readonly emit: (block: ParsedBlock) => void,
    /** Told each line's length before it is kept (the whole-file parser's text budget). */
    private readonly charge: (chars: number) => void = () => {},
  ) {}

  /** One top-level group: a member of a root object, an element of a root array, a JSONL record. */
  add(value: unknown, path: string): void {
    const groupLines: string[] = [];
    for (const line of flatten(value, path)) {
      this.charge(line.length + 1);
      groupLines.push(line);
      if (groupLines.length >= LINES_PER_BLOCK) {
        // A big group fills blocks on its own.
        this.flush();
        this.lines = groupLines.splice(0);
        this.flush();
      }
    }
    if (this.lines.length + groupLines.length > LINES_PER_BLOCK) this.flush();
    this.lines.push(...groupLines);
  }

  flush(): void {
    if (this.lines.length > 0) this.emit({ kind: 'paragraph', text: this.lines.join('\n'), headingPath: [] });
    this.lines = [];
  }
}

/** The path of the `index`-th record of a JSON Lines file (or element of a root array). */
export const recordPath = (index: number) => `[${index}]`;

export async function parse(bytes: Uint8Array, limits: ParseLimits): Promise<ParsedDocument> {
  const text = decodeUtf8(bytes);
  const sink = new BlockSink(limits);
  if (text.trim().length === 0) return sink.finish(); // "no text", not "invalid JSON"
  const { root, jsonl } = parseJsonOrJsonl(text);
  const builder = new JsonBlockBuilder((b) => sink.push(b, true), (n) => sink.charge(n));
  for (const group of groups(root, jsonl)) builder.add(group.value, group.path);
  builder.flush();
  return sink.finish();
}
