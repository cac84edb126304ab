/**
 * A document's text, put back together from its chunks (the parse output itself is deleted once
 * the document is indexed). The chunker (src/chunking/chunker.ts) starts the next chunk of the
 * same section with the trailing whole sentences of the previous one, so a chunk's text is a slice
 * of the document: where a chunk begins with the end of the one before, that repeat is dropped and
 * the rest (which begins with the original separator) follows on. Where no overlap is found (a new
 * section, or an overlap the chunker had to drop) the original whitespace is gone: a blank line
 * between sections, a line break inside one.
 */

export interface TextChunk {
  text: string;
  heading_path: string[];
}

export interface TextPiece {
  /** Index of the chunk this piece of text comes from (to mark chunk boundaries). */
  chunk: number;
  /** What goes before the piece: a separator when no overlap joined it, '' otherwise. */
  sep: string;
  text: string;
}

const sameSection = (a: string[], b: string[]) => a.length === b.length && a.every((t, i) => t === b[i]);

// Where the chunker can start an overlap: a sentence start, i.e. after whitespace, a CJK sentence
// mark, or a closing quote/bracket (src/chunking/sentences.ts). Anything else is a coincidence.
const SENTENCE_BEFORE = /[\s。！？；．｡"'\)\]}»”’」』）】]/u;

/**
 * Length of the chunker's overlap: the longest proper suffix of `prev`, starting at a sentence
 * start, that `next` begins with (0 if none). Linear time (KMP failure function over
 * next + NUL + prev), since documents have thousands of chunks of thousands of characters.
 */
export function overlapLength(prev: string, next: string): number {
  const s = `${next}\u0000${prev}`;
  const pi = new Int32Array(s.length);
  for (let i = 1; i < s.length; i++) {
    let k = pi[i - 1]!;
    while (k > 0 && s[i] !== s[k]) k = pi[k - 1]!;
    if (s[i] === s[k]) k++;
    pi[i] = k;
  }
  // Every border of the whole string, longest first: each is a suffix of prev that next begins with.
  for (let n = pi[s.length - 1]!; n > 0; n = pi[n - 1]!) {
    const at = prev.length - n;
    if (at > 0 && n <= next.length && SENTENCE_BEFORE.test(prev[at - 1]!)) return n;
  }
  return 0;
}

/** The chunks in order as pieces of one text, each chunk's overlap with the one before removed. */
export function joinChunks(chunks: readonly TextChunk[]): TextPiece[] {
  return chunks.map((c, i) => {
    if (i === 0) return { chunk: 0, sep: '', text: c.text };
    const prev = chunks[i - 1]!;
    if (!sameSection(prev.heading_path, c.heading_path)) return { chunk: i, sep: '\n\n', text: c.text };
    const n = overlapLength(prev.text, c.text);
    return n > 0 ? { chunk: i, sep: '', text: c.text.slice(n) } : { chunk: i, sep: '\n', text: c.text };
  });
}

/** The whole reconstructed text (for copying; the inspector renders the pieces). */
export const fullText = (chunks: readonly TextChunk[]): string => joinChunks(chunks).map((p) => p.sep + p.text).join('');

/** A PDF viewer URL opening at a page (the `#page=` open parameter Chromium's and Firefox's viewers read). */
export const pdfPageUrl = (url: string, page: number): string => `${url}#page=${Math.max(1, Math.floor(page))}`;
