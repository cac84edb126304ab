/**
 * Token counting and token-level splitting with gpt-tokenizer's cl100k_base (the encoding of
 * OpenAI's text-embedding-3 models, so our counts match what an embedding API would count).
 *
 * Two hazards of calling the library directly on document text:
 *  - it throws on special-token strings such as "<|endoftext|>" unless told not to;
 *  - BPE is quadratic in the length of one pre-token, so a 200k-character run without spaces
 *    (base64, "=====…", hostile input) takes minutes.
 * So text is encoded in segments cut at word boundaries (a space after a non-space always
 * starts a new cl100k pre-token, so counts are exact), and a run longer than MAX_RUN
 * characters with no such boundary is cut hard (counts there may differ by a token per cut).
 */
import { countTokens as countEncoded, decode, encode } from 'gpt-tokenizer/encoding/cl100k_base';

const OPTIONS = { disallowedSpecial: new Set<string>() };
/** Target segment length; segments end at the last word boundary before this. */
const SEGMENT = 4096;
/**
 * Longest stretch handed to BPE without a word boundary. BPE is quadratic in it, and Chinese or
 * Japanese text has no spaces at all, so a whole paragraph is one stretch: 256 characters keep it
 * cheap, and a cut inside a run costs at most a token or so of counting error per 256 characters.
 */
const MAX_RUN = 256;

const isWs = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c || c === 0x0b;

/** Split `text` into segments whose concatenation is `text`, each safe to encode on its own. */
function* segments(text: string): Generator<string> {
  let start = 0;
  while (text.length - start > SEGMENT) {
    let cut = -1;
    // The last " " preceded by a non-space within the window is a pre-token boundary.
    for (let i = start + SEGMENT; i > start; i--) {
      if (text.charCodeAt(i) === 0x20 && !isWs(text.charCodeAt(i - 1))) {
        cut = i;
        break;
      }
    }
    if (cut === -1 || cut - start > SEGMENT) cut = start + SEGMENT;
    // Bound the run since the last boundary: find the last boundary in [start, cut) and make
    // sure what lies between boundaries is never longer than MAX_RUN.
    const piece = text.slice(start, cut);
    yield* boundRuns(piece);
    start = cut;
  }
  if (start < text.length) yield* boundRuns(text.slice(start));
}

/** The first word boundary (a " " after a non-space) at or after `from`, or `piece.length`. */
function nextBoundary(piece: string, from: number): number {
  for (let i = piece.indexOf(' ', Math.max(from, 1)); i !== -1; i = piece.indexOf(' ', i + 1)) {
    if (!isWs(piece.charCodeAt(i - 1))) return i;
  }
  return piece.length;
}

/**
 * Hard-cut any stretch of `piece` longer than MAX_RUN that has no word boundary. Jumps from
 * boundary to boundary, and walks character by character only through a stretch long enough to
 * be cut: the cuts are those of a walk over every character.
 */
function* boundRuns(piece: string): Generator<string> {
  // Shorter than a run can get: nothing to cut.
  if (piece.length <= MAX_RUN) {
    if (piece.length > 0) yield piece;
    return;
  }
  let runStart = 0;
  let segStart = 0;
  while (runStart < piece.length) {
    const boundary = nextBoundary(piece, runStart + 1);
    // Every character before the boundary is less than MAX_RUN from the run's start.
    if (boundary - runStart <= MAX_RUN) {
      runStart = boundary;
      continue;
    }
    for (let i = runStart + MAX_RUN; i < boundary; i++) {
      if (i - runStart < MAX_RUN) continue;
      // Never cut inside a surrogate pair.
      const cut = isLowSurrogate(piece.charCodeAt(i)) ? i - 1 : i;
      if (cut > segStart) {
        yield piece.slice(segStart, cut);
        segStart = cut;
      }
      runStart = cut;
    }
    runStart = boundary;
  }
  if (segStart < piece.length) yield piece.slice(segStart);
}

const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/** The number of tokens encodeTokens(text) makes, counted without building them. */
export function countTokens(text: string): number {
  let n = 0;
  for (const seg of segments(text)) n += countEncoded(seg, OPTIONS);
  return n;
}

export function encodeTokens(text: string): number[] {
  const out: number[] = [];
  for (const seg of segments(text)) {
    for (const t of encode(seg, OPTIONS)) out.push(t);
  }
  return out;
}

export function decodeTokens(tokens: number[]): string {
  return decode(tokens);
}

/**
 * Cut `text` into consecutive pieces of at most `max` tokens whose concatenation is `text`
 * (`tokens`: encodeTokens(text), when the caller has it already).
 * Byte-level BPE can split a multi-byte character across tokens, which decodes as U+FFFD; a
 * cut is moved back (up to 3 tokens) until it falls on a character boundary.
 */
export function splitByTokens(text: string, max: number, tokens: number[] = encodeTokens(text)): string[] {
  const pieces: string[] = [];
  let start = 0;
  while (start < tokens.length) {
    let end = Math.min(start + max, tokens.length);
    let piece = decode(tokens.slice(start, end));
    for (let back = 0; back < 3 && end < tokens.length && end - 1 > start && piece.endsWith('\uFFFD'); back++) {
      end--;
      piece = decode(tokens.slice(start, end));
    }
    pieces.push(piece);
    start = end;
  }
  return pieces;
}
