/**
 * Helpers every parser shares: strict UTF-8 decoding, whitespace/control-character
 * normalisation, the extracted-text budget and the final "did we get any text" check.
 */
import { PermanentError } from '../domain/errors.js';
import type { ParsedBlock, ParsedDocument, ParseLimits } from '../domain/types.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Decode bytes as UTF-8, failing on any malformed sequence. A leading BOM is stripped
 * (TextDecoder does that unless `ignoreBOM` is set). We refuse rather than replace bad
 * bytes because a Latin-1 file decoded with U+FFFD everywhere would index garbage.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new PermanentError('invalid UTF-8: the file is not UTF-8 encoded text', 'invalid_utf8');
  }
}

// C0/C1 controls except \t and \n (\r is turned into \n first), plus a stray BOM / zero-width space.
// ZWJ/ZWNJ stay: they carry meaning in several scripts and in emoji sequences.
const CONTROL_RE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\uFEFF\u200B]/g;

/** Unify line endings and drop control characters; keeps \n and \t. */
export function stripControls(s: string): string {
  return s.replace(/\r\n?|[\u2028\u2029]/g, '\n').replace(CONTROL_RE, '');
}

/** Inline text (paragraphs, headings, cells): every whitespace run becomes one space. */
export function cleanInline(s: string): string {
  return stripControls(s).replace(/\s+/g, ' ').trim();
}

/**
 * Preformatted text (code): indentation and inner spacing are meaningful, so only trailing
 * whitespace per line, leading/trailing blank lines and runs of 3+ blank lines are touched.
 */
export function cleanPreformatted(s: string): string {
  return stripControls(s)
    .split('\n')
    .map((line) => line.replace(/\s+$/, ''))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .replace(/^\n+|\n+$/g, '');
}

/**
 * Counts extracted characters and fails the document once it exceeds `maxTextChars`, so a
 * parser stops early instead of building an unbounded string for hostile input.
 */
export class TextBudget {
  private used = 0;
  constructor(private readonly max: number) {}

  spend(chars: number): void {
    this.used += chars;
    if (this.used > this.max) {
      throw new PermanentError(
        `document text exceeds the limit of ${this.max} characters`,
        'too_large',
      );
    }
  }

  get total(): number {
    return this.used;
  }
}

/**
 * Collects blocks, dropping empty ones and charging the budget. Parsers push through this
 * so the maxTextChars rule is enforced in one place.
 */
export class BlockSink {
  readonly blocks: ParsedBlock[] = [];
  private readonly budget: TextBudget;

  constructor(limits: ParseLimits) {
    this.budget = new TextBudget(limits.maxTextChars);
  }

  /**
   * Add a block. `precharged` means the parser already paid for its text line by line via
   * `charge` (formats that amplify their input, like CSV and JSON, check before building).
   */
  push(block: ParsedBlock, precharged = false): void {
    if (block.text.length === 0) return;
    if (!precharged) this.budget.spend(block.text.length);
    this.blocks.push(block);
  }

  /** Charge text before it is assembled into a block. */
  charge(chars: number): void {
    this.budget.spend(chars);
  }

  /** The finished document; no blocks at all is a permanent failure. */
  finish(extra: Omit<ParsedDocument, 'blocks'> = {}): ParsedDocument {
    if (this.blocks.length === 0) {
      throw new PermanentError('no text could be extracted', 'no_text');
    }
    const doc: ParsedDocument = { blocks: this.blocks };
    if (extra.pages !== undefined) doc.pages = extra.pages;
    if (extra.title !== undefined && extra.title.length > 0) doc.title = extra.title;
    return doc;
  }
}

/** Maintains the heading stack and yields the headingPath for the next block. */
export class HeadingTracker {
  private stack: { level: number; title: string }[] = [];

  /** Enter a heading; returns its own path (which includes itself). */
  enter(level: number, title: string): string[] {
    while (this.stack.length > 0 && this.stack[this.stack.length - 1]!.level >= level) {
      this.stack.pop();
    }
    this.stack.push({ level, title });
    return this.path();
  }

  path(): string[] {
    return this.stack.map((h) => h.title);
  }
}
