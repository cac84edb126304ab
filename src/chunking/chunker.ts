/**
 * Structure-aware recursive chunking.
 *
 *  1. Sections: consecutive blocks sharing a headingPath. A section holding only headings
 *     that is followed by one of its subsections is merged into it, so "# Title" alone never
 *     becomes a chunk of one word.
 *  2. Units: each block becomes one unit if it fits in chunkTokens; otherwise its sentences
 *     (lines, for line-oriented text) become units, and a sentence that still does not fit is
 *     cut on token boundaries.
 *  3. Packing: units are packed greedily into chunks of at most chunkTokens. The next chunk of
 *     the same section starts with the trailing whole sentences (≤ overlapTokens) of the
 *     previous one. Overlap never crosses a section boundary.
 *
 * Units remember the separator that preceded them in the source ("\n\n" between blocks, the
 * original whitespace between sentences, nothing between token pieces), so a chunk's text is
 * exactly a slice of the document text.
 */
import type { ChunkDraft, ChunkingOptions, ParsedBlock, ParsedDocument } from '../domain/types.js';
import { sentenceSpans } from './sentences.js';
import { countTokens, encodeTokens, splitByTokens } from './tokens.js';

interface Section {
  headingPath: string[];
  blocks: ParsedBlock[];
}

interface Unit {
  text: string;
  tokens: number;
  /** Separator placed before this unit when it follows another in a chunk. */
  sep: string;
  page: number | null;
}

const BLOCK_SEP = '\n\n';

const samePath = (a: string[], b: string[]) => a.length === b.length && a.every((t, i) => t === b[i]);
const isPrefix = (p: string[], of: string[]) => p.length < of.length && p.every((t, i) => t === of[i]);

export function toSections(blocks: ParsedBlock[]): Section[] {
  const sections: Section[] = [];
  for (const b of blocks) {
    if (b.text.trim().length === 0) continue;
    const last = sections[sections.length - 1];
    // A page break also starts a section, so a PDF chunk never spans pages and its citation's
    // page is the page its whole text is on.
    const samePage = (last?.blocks[last.blocks.length - 1]?.page ?? null) === (b.page ?? null);
    if (last && samePage && samePath(last.headingPath, b.headingPath)) last.blocks.push(b);
    else sections.push({ headingPath: b.headingPath, blocks: [b] });
  }
  // Walk backwards so a chain "# A", "## B", "### C" + text collapses into the deepest section.
  for (let i = sections.length - 2; i >= 0; i--) {
    const s = sections[i]!;
    const next = sections[i + 1]!;
    if (s.blocks.every((b) => b.kind === 'heading') && isPrefix(s.headingPath, next.headingPath)) {
      next.blocks = [...s.blocks, ...next.blocks];
      sections.splice(i, 1);
    }
  }
  return sections;
}

/**
 * A sentence longer than this many characters per chunk token is pre-cut into windows before
 * tokenising (see windows()). Generous, so ordinary prose never meets it: a cl100k token is about
 * one CJK character or four Latin ones.
 */
const WINDOW_CHARS_PER_TOKEN = 16;

/** Units of one block, each at most `max` tokens. */
function blockUnits(block: ParsedBlock, max: number): Unit[] {
  const page = block.page ?? null;
  const text = block.text.trim();
  const window = Math.max(4096, max * WINDOW_CHARS_PER_TOKEN);
  // A block many windows long cannot fit one chunk: skip counting all of it.
  const tokens = text.length > 4 * window ? Infinity : countTokens(text);
  if (tokens <= max) return [{ text, tokens, sep: BLOCK_SEP, page }];

  const units: Unit[] = [];
  let prevEnd = -1;
  for (const span of sentenceSpans(text)) {
    // Keep the original whitespace between sentences (a space, or a newline in lists/code).
    const sep = prevEnd < 0 ? BLOCK_SEP : text.slice(prevEnd, span.start);
    prevEnd = span.end;
    for (const piece of windows(text.slice(span.start, span.end), sep, window)) {
      // A piece that will most likely be cut is encoded once, for its count and its cut alike.
      const tokens = piece.text.length > max * LIKELY_CUT_CHARS_PER_TOKEN ? encodeTokens(piece.text) : undefined;
      const n = tokens?.length ?? countTokens(piece.text);
      if (n <= max) units.push({ text: piece.text, tokens: n, sep: piece.sep, page });
      else units.push(...tokenUnits(piece.text, piece.sep, max, page, n, tokens));
    }
  }
  return units;
}

/**
 * A piece longer than this many characters per chunk token is encoded rather than counted (see
 * blockUnits): it needs more tokens than a chunk holds unless its tokens average more characters
 * than this, which prose, code and logs do not. Either way the result is the same.
 */
const LIKELY_CUT_CHARS_PER_TOKEN = 6;

/** Soft places to cut a run with no sentence end: after whitespace or a comma-like pause. */
const SOFT_BREAK = /[\s,，、;；:：)）]/u;

/**
 * A sentence cut into windows of at most `limit` characters, so a megabyte without a sentence
 * end (a log line, a minified file, Chinese without punctuation) is tokenised in small pieces:
 * chunking stays linear-time, and BPE never sees a long stretch. Cuts go at the last soft break
 * in the second half of the window (whitespace moves into the next window's separator), else
 * hard, never inside a surrogate pair.
 */
function windows(sentence: string, sep: string, limit: number): { text: string; sep: string }[] {
  if (sentence.length <= limit) return [{ text: sentence, sep }];
  const out: { text: string; sep: string }[] = [];
  let start = 0;
  let pending = sep;
  while (start < sentence.length) {
    let end = Math.min(start + limit, sentence.length);
    if (end < sentence.length) {
      let k = end;
      while (k > start + limit / 2 && !SOFT_BREAK.test(sentence[k - 1]!)) k--;
      if (k > start + limit / 2) end = k;
      else if (/[\udc00-\udfff]/.test(sentence[end]!)) end--;
    }
    const piece = sentence.slice(start, end);
    const body = piece.trimEnd();
    if (body.length > 0) out.push({ text: body, sep: pending });
    pending = piece.slice(body.length);
    start = end;
    while (start < sentence.length && /\s/.test(sentence[start]!)) pending += sentence[start++];
  }
  return out;
}

/**
 * Units for a sentence too long for one chunk: cut on token boundaries. Pieces often begin with
 * the space of their first token (" word"), so edge whitespace moves into the separators and no
 * chunk starts or ends with whitespace. Trimming can (rarely, e.g. " 日" vs "日") make a piece
 * need more tokens than before; such a piece is cut again — it is strictly shorter, so this ends.
 */
function tokenUnits(text: string, sep: string, max: number, page: number | null, counted?: number, encoded?: number[]): Unit[] {
  const n = counted ?? countTokens(text);
  if (n <= max) return [{ text, tokens: n, sep, page }];
  const units: Unit[] = [];
  let pending = sep;
  for (const piece of splitByTokens(text, max, encoded)) {
    const lead = /^\s*/.exec(piece)![0].length;
    const body = piece.slice(lead).trimEnd();
    if (body.length === 0) {
      pending += piece;
      continue;
    }
    units.push(...tokenUnits(body, pending + piece.slice(0, lead), max, page));
    pending = piece.slice(lead + body.length);
  }
  return units;
}

function joinUnits(units: Unit[]): string {
  let out = '';
  units.forEach((u, i) => {
    out += i === 0 ? u.text : u.sep + u.text;
  });
  return out;
}

/**
 * Trailing whole sentences of `text` totalling at most `budget` tokens, never the whole text
 * (an overlap equal to the previous chunk would be pure duplication). Returns the offset in
 * `text` where the overlap starts and the overlap's token count, or null for none.
 */
function overlapStart(text: string, budget: number): { at: number; tokens: number } | null {
  if (budget <= 0) return null;
  const spans = sentenceSpans(text);
  let best: { at: number; tokens: number } | null = null;
  for (let i = spans.length - 1; i >= 1; i--) {
    const start = spans[i]!.start;
    const tokens = countTokens(text.slice(start));
    if (tokens > budget) break;
    best = { at: start, tokens };
  }
  return best;
}

function validate(opts: ChunkingOptions): { max: number; overlap: number } {
  const max = Math.floor(opts.chunkTokens);
  if (!Number.isFinite(max) || max < 1) throw new RangeError(`chunkTokens must be ≥ 1, got ${opts.chunkTokens}`);
  const overlap = Math.floor(opts.overlapTokens);
  if (!Number.isFinite(overlap) || overlap < 0) throw new RangeError(`overlapTokens must be ≥ 0, got ${opts.overlapTokens}`);
  // More than half a chunk of overlap would make chunks mostly repetition and progress slow.
  return { max, overlap: Math.min(overlap, Math.floor(max / 2)) };
}

function packSection(section: Section, max: number, overlapBudget: number, out: ChunkDraft[]): void {
  const units = section.blocks.flatMap((b) => blockUnits(b, max));
  let i = 0;
  let carry: Unit | null = null; // overlap from the previous chunk of this section
  while (i < units.length) {
    const parts: Unit[] = carry ? [carry] : [];
    let estimate = carry ? carry.tokens : 0;
    let j = i;
    while (j < units.length) {
      const u = units[j]!;
      // +1: joining can cost a separator token ("\n\n" always does).
      const cost = u.tokens + (parts.length > 0 ? 1 : 0);
      if (estimate + cost <= max) {
        parts.push(u);
        estimate += cost;
        j++;
      } else if (j === i && carry && parts[0] === carry) {
        // The overlap leaves no room for the next unit: drop it rather than stall.
        parts.shift();
        estimate = 0;
        carry = null;
      } else {
        break;
      }
    }
    if (parts.length === 0) {
      // Unreachable (every unit fits alone), but never loop forever on a broken invariant.
      parts.push(units[j]!);
      j++;
    }
    // Tokenization of joined text is not exactly additive; verify and back off if needed.
    let text = joinUnits(parts);
    // A lone unit's count is already exact (units are counted on their own text).
    let tokens = parts.length === 1 ? parts[0]!.tokens : countTokens(text);
    while (tokens > max && parts.length > 1) {
      if (j - 1 > i) {
        parts.pop();
        j--;
      } else {
        parts.shift(); // only the overlap and one new unit left: drop the overlap
      }
      text = joinUnits(parts);
      tokens = countTokens(text);
    }

    out.push({
      ordinal: out.length,
      text,
      tokenCount: tokens,
      headingPath: [...section.headingPath],
      page: parts[0]!.page,
    });
    i = j;
    carry = null;
    if (i < units.length) {
      const overlap = overlapStart(text, overlapBudget);
      if (overlap) carry = { text: text.slice(overlap.at), tokens: overlap.tokens, sep: '', page: pageAt(parts, overlap.at) };
    }
  }
}

/** Page of the unit that contains character offset `at` of the joined parts. */
function pageAt(parts: Unit[], at: number): number | null {
  let offset = 0;
  for (let k = 0; k < parts.length; k++) {
    const u = parts[k]!;
    if (k > 0) offset += u.sep.length;
    if (at < offset + u.text.length) return u.page;
    offset += u.text.length;
  }
  return parts[parts.length - 1]?.page ?? null;
}

export function chunkDocument(doc: ParsedDocument, opts: ChunkingOptions): ChunkDraft[] {
  const { max, overlap } = validate(opts);
  const out: ChunkDraft[] = [];
  for (const section of toSections(doc.blocks)) packSection(section, max, overlap, out);
  return out;
}
