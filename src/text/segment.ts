/**
 * Word segmentation for full-text search, the same at index time and at query time, for every
 * store adapter (SQLite FTS5 today, PostgreSQL full text in cluster mode). Both sides must call
 * these functions: a term matches only if the document and the question were cut the same way.
 *
 * Languages written with spaces (English, French, Russian, Korean, …) pass through untouched:
 * the database tokenizer (FTS5 `unicode61`, PostgreSQL `simple`) splits them on spaces and
 * punctuation. Scripts written WITHOUT spaces between words would reach that tokenizer as one
 * giant "word" per sentence, so nothing would ever match; here each such run is rewritten as
 * space-separated terms:
 *
 *  - Chinese and Japanese (Han, Hiragana, Katakana): the words found by `Intl.Segmenter` (ICU's
 *    dictionary segmenter, built into Node), PLUS every overlapping pair of characters (bigrams).
 *    Words give precise matches; bigrams catch the words the dictionary does not know (names,
 *    jargon, new terms) and the questions segmented differently from the document. Chosen by
 *    measurement on the STARD train split (BM25 nDCG@10, whole articles): words alone 0.376,
 *    bigrams alone 0.382, words + bigrams 0.398; jieba's search mode scored below ICU words on
 *    the same files (see ../shared/eval/stard-zh/SOURCE.md), so no dependency was added.
 *  - Thai, Lao, Khmer, Myanmar: the words found by `Intl.Segmenter` (ICU has dictionaries for
 *    them); character pairs mean little in an alphabet, so none are added.
 *
 * All text is NFKC-normalised first, so full-width and half-width forms (ＡＢＣ / ABC, １２ / 12,
 * ？/ ?) are one term. Lower-casing is left to the database tokenizer (both fold case).
 */

/** Han (incl. 々〆〇), kana and the prolonged sound mark ー: Chinese and Japanese words. */
const CJ = '\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}\\u30fc\\u3005\\u3006\\u3007';
/** South-east Asian scripts written without spaces; marks (vowel signs, tones) belong to the word. */
const SEA = '\\p{Script=Thai}\\p{Script=Lao}\\p{Script=Khmer}\\p{Script=Myanmar}';
const RUN = new RegExp(`[${CJ}]+|[${SEA}][${SEA}\\p{M}]*`, 'gu');
const CJ_CHAR = new RegExp(`^[${CJ}]`, 'u');
const HAS_UNSPACED = new RegExp(`[${CJ}${SEA}]`, 'u');

const segmenter = new Intl.Segmenter('zh', { granularity: 'word' });

/** True when `text` contains a script written without spaces (Chinese, Japanese, Thai, …). */
export const hasUnspacedScript = (text: string): boolean => HAS_UNSPACED.test(text);

/** The terms of one run of an unspaced script: dictionary words, then bigrams for Chinese/Japanese. */
function runTerms(run: string, out: string[]): void {
  for (const s of segmenter.segment(run)) if (s.isWordLike) out.push(s.segment);
  if (!CJ_CHAR.test(run)) return;
  const chars = Array.from(run);
  for (let i = 0; i + 1 < chars.length; i++) out.push(chars[i]! + chars[i + 1]!);
}

/**
 * The text to hand to the database's full-text tokenizer for one field of a chunk (title,
 * heading, body). Spaced text is returned NFKC-normalised and otherwise unchanged; each unspaced
 * run becomes its terms separated by spaces. Pure and deterministic (for one ICU version).
 */
export function segmentForIndex(text: string): string {
  const norm = text.normalize('NFKC');
  if (!HAS_UNSPACED.test(norm)) return norm;
  return norm.replace(RUN, (run) => {
    const terms: string[] = [];
    runTerms(run, terms);
    return ` ${terms.join(' ')} `;
  });
}

/**
 * The distinct search terms of a question (every occurrence with `withRepeats`, for term
 * frequencies), lower-cased, in order of first appearance: words of
 * spaced scripts as the tokenizer would cut them, and for unspaced runs the same words and
 * bigrams `segmentForIndex` writes. Adapters quote each term (so query syntax in the user's text
 * is inert) and OR them together; BM25 then ranks by how many and how rare the matches are.
 */
export function segmentQuery(text: string, withRepeats = false): string[] {
  const terms = [...segmentForIndex(text).toLowerCase().matchAll(/[\p{L}\p{N}][\p{L}\p{N}\p{M}]*/gu)].map((m) => m[0]);
  return withRepeats ? terms : [...new Set(terms)];
}

/** True for a term written in an unspaced script (used to keep single Chinese characters out of queries). */
export const isUnspacedTerm = (term: string): boolean => HAS_UNSPACED.test(term);
