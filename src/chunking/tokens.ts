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
import { decode, encode } from 'gpt-tokenizer/encoding/cl100k_base';

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

/** Hard-cut any stretch of `piece` longer than MAX_RUN that has no word boundary. */
function* boundRuns(piece: string): Generator<string> {
  let runStart = 0;
  let segStart = 0;
  for (let i = 1; i < piece.length; i++) {
    if (piece.charCodeAt(i) === 0x20 && !isWs(piece.charCodeAt(i - 1))) {
      runStart = i;
    } else if (i - runStart >= MAX_RUN) {
      // Never cut inside a surrogate pair.
      const cut = isLowSurrogate(piece.charCodeAt(i)) ? i - 1 : i;
      if (cut > segStart) {
        yield piece.slice(segStart, cut);
        segStart = cut;
      }
      runStart = cut;
    }
  }
  if (segStart < piece.length) yield piece.slice(segStart);
}

const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff;

export function countTokens(text: string): number {
  let n = 0;
  for (const seg of segments(text)) n += encode(seg, OPTIONS).length;
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
 * Cut `text` into consecutive pieces of at most `max` tokens whose concatenation is `text`.
 * Byte-level BPE can split a multi-byte character across tokens, which decodes as U+FFFD; a
 * cut is moved back (up to 3 tokens) until it falls on a character boundary.
 */
export function splitByTokens(text: string, max: number): string[] {
  const tokens = encodeTokens(text);
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
