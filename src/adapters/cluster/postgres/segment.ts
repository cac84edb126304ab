import { stemmer } from 'stemmer';
import { toFtsQuery } from '../../embedded/sqlite/search-ops.js';

/**
 * The text segmentation of the PostgreSQL full-text index: the same terms SQLite's FTS5 makes
 * with `tokenize = 'porter unicode61 remove_diacritics 2'` (see kb-fts.ts), so a KB ranks the
 * same in both modes. A term is a run of letters, digits and private-use characters, NFKC-
 * normalised, lower-cased, stripped of diacritics, then Porter-stemmed.
 *
 * RE-POINT: the language work (branch i17) gives both adapters one shared segmenter (words for
 * Chinese and other scripts without spaces). When it lands, `segmentForIndex` and `queryTerms`
 * below must call it, and nothing else in the cluster adapter changes: every index and query
 * path goes through these two functions.
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

/** The index terms of a text, in order, repeats included (BM25 counts them). */
export function segmentForIndex(text: string): string[] {
  const out: string[] = [];
  for (const m of text.normalize('NFKC').toLowerCase().matchAll(TERM)) out.push(stem(fold(m[0])).slice(0, MAX_TERM_CHARS));
  return out;
}

/**
 * The distinct index terms a question searches for. The embedded adapter's query rules (stopwords,
 * at most 64 words) come from its own `toFtsQuery`, so both modes drop the same words; each word
 * is then segmented as the index was.
 */
export function queryTerms(question: string): string[] {
  const match = toFtsQuery(question);
  if (match === null) return [];
  const terms = new Set<string>();
  for (const quoted of match.matchAll(/"((?:[^"]|"")*)"/g)) for (const t of segmentForIndex(quoted[1]!)) terms.add(t);
  return [...terms];
}
