import type { ChunkDraft } from '../../../domain/types.js';
import { segmentForIndex } from './segment.js';

/**
 * The full-text rows of a document's chunks, as column arrays ready for one `unnest` insert:
 * per chunk, each distinct term with its count in the title (the document name), the heading
 * path and the body; and each chunk's length in terms (BM25's |D|, all three fields together,
 * as FTS5 counts it).
 */
export interface Postings {
  lengths: number[];
  terms: string[];
  /** Index into the chunks (not yet the chunk number, which the insert assigns). */
  chunk: number[];
  title: number[];
  heading: number[];
  body: number[];
  dl: number[];
}

/** The heading path as the embedded index writes it (kb-fts.ts headingText). */
const headingText = (path: string[]): string => path.join(' > ');

const SMALLINT_MAX = 32_767;

export function buildPostings(documentName: string, drafts: readonly ChunkDraft[]): Postings {
  const out: Postings = { lengths: [], terms: [], chunk: [], title: [], heading: [], body: [], dl: [] };
  const titleTerms = segmentForIndex(documentName);
  drafts.forEach((d, i) => {
    const fields = [titleTerms, segmentForIndex(headingText(d.headingPath)), segmentForIndex(d.text)] as const;
    const counts = new Map<string, [number, number, number]>();
    fields.forEach((terms, f) => {
      for (const t of terms) {
        let c = counts.get(t);
        if (!c) counts.set(t, (c = [0, 0, 0]));
        c[f]! += 1;
      }
    });
    const length = fields[0].length + fields[1].length + fields[2].length;
    out.lengths.push(length);
    for (const [term, [t, h, b]] of counts) {
      out.terms.push(term);
      out.chunk.push(i);
      out.title.push(Math.min(t, SMALLINT_MAX));
      out.heading.push(Math.min(h, SMALLINT_MAX));
      out.body.push(b);
      out.dl.push(length);
    }
  });
  return out;
}
