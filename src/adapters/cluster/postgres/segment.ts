import { stemmer } from 'stemmer';
import { toFtsQuery } from '../../embedded/sqlite/search-ops.js';
import { segmentForIndex as presegment } from '../../../text/segment.js';

/**
 * The text segmentation of the PostgreSQL full-text index: the terms SQLite's FTS5 makes, so a
 * KB ranks the same in both modes. Two steps, as in the embedded adapter:
 *  1. `presegment`: the shared pre-segmentation both adapters apply to every indexed field
 *     (words for Chinese and other scripts written without spaces);
 *  2. `ftsTokens`: what FTS5's `tokenize = 'porter unicode61 remove_diacritics 2'` then does
 *     (kb-fts.ts): runs of letters, digits and private-use characters, NFKC-normalised,
 *     lower-cased, stripped of diacritics, Porter-stemmed.
 * Questions reuse the embedded adapter's own query rules (`toFtsQuery`: segmentation, stopwords,
 * term cap) and put each of its quoted terms through step 2, as FTS5 does with a quoted term.
 * Every index and query path of the cluster adapter goes through here.
 */

const TERM = /[\p{L}\p{N}\p{Co}]+/gu;

/** FTS5's porter tokenizer leaves terms shorter than 3 or longer than 64 characters as they are. */
const stem = (t: string): string => (t.length < 3 || t.length > 64 ? t : stemmer(t));

/** Longer terms are cut: a B-tree entry has a size limit, and no one searches for 200 letters at once. */
const MAX_TERM_CHARS = 200;

function fold(term: string): string {
  // NFD splits a letter from its accents; dropping the marks and recomposing keeps everything else.
  return term.normalize('NFD').replace(/\p{Mn}/gu, '').normalize('NFC');
}

/** FTS5's unicode61 + porter tokens of a text, in order, repeats included. */
function ftsTokens(text: string): string[] {
  const out: string[] = [];
  for (const m of text.normalize('NFKC').toLowerCase().matchAll(TERM)) out.push(stem(fold(m[0])).slice(0, MAX_TERM_CHARS));
  return out;
}

/** The index terms of one field of a chunk, in order, repeats included (BM25 counts them). */
export const segmentForIndex = (text: string): string[] => ftsTokens(presegment(text));

/** The distinct index terms a question searches for. */
export function queryTerms(question: string): string[] {
  const match = toFtsQuery(question);
  if (match === null) return [];
  const terms = new Set<string>();
  for (const quoted of match.matchAll(/"((?:[^"]|"")*)"/g)) for (const t of ftsTokens(quoted[1]!)) terms.add(t);
  return [...terms];
}
