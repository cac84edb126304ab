/**
 * The extractive answerer's core, pure and synchronous: it runs in the search worker pool
 * (src/workers/query-tasks.ts), never on the event loop. It splits the retrieved chunks into
 * sentences, scores each sentence against the question with BM25 over stemmed terms (the
 * sentences are the "documents"), and keeps the best few, each tagged with its source number.
 * Terms come from the same segmenter as full-text search (src/text/segment.ts), so a Chinese or
 * Japanese question meets its sentences on the same words and character pairs.
 */
import { isUnspacedTerm, segmentQuery } from '../../text/segment.js';

export interface ExtractInput {
  query: string;
  /** `n` is the source's citation number (1-based). */
  sources: { n: number; text: string }[];
  minSentences?: number;
  maxSentences?: number;
}

export interface ExtractedSentence {
  text: string;
  n: number;
  score: number;
}

export interface ExtractOutput {
  sentences: ExtractedSentence[];
}

const STOPWORDS = new Set(
  (
    'a an and are as at be been but by can did do does for from had has have how i if in into is it its ' +
    'of on or so such than that the their them then there these they this those to was were what when ' +
    'where which while who whom why will with would you your not no'
  ).split(' '),
);

/** A light suffix stripper: enough that "cells"/"cell" and "treated"/"treating" meet. */
export function stem(word: string): string {
  let w = word;
  if (w.length > 4 && w.endsWith('ies')) return `${w.slice(0, -3)}y`;
  if (w.length > 4 && w.endsWith('sses')) return w.slice(0, -2);
  if (w.length > 3 && w.endsWith('s') && !/(ss|us|is)$/.test(w)) w = w.slice(0, -1);
  if (w.length > 5 && w.endsWith('ing')) w = w.slice(0, -3);
  else if (w.length > 4 && w.endsWith('ed')) w = w.slice(0, -2);
  else if (w.length > 4 && w.endsWith('ly')) w = w.slice(0, -2);
  return w;
}

/** The terms of a text, with repeats (term frequency counts); NFKC, lower case, stemmed where spaced. */
export function terms(text: string): string[] {
  const out: string[] = [];
  for (const t of segmentQuery(text, true)) {
    if (isUnspacedTerm(t)) out.push(t);
    else if (!STOPWORDS.has(t)) out.push(stem(t));
  }
  return out;
}

// Abbreviations whose period does not end a sentence.
const ABBREVIATIONS = /(?:\b(?:e\.g|i\.e|et al|etc|vs|fig|figs|no|dr|mr|mrs|ms|prof|approx|ca|cf|resp)\.|\b[A-Z]\.)$/i;
const MAX_SENTENCE_CHARS = 600;

/**
 * Where a sentence ends: . ! ? followed by space and an upper-case letter or digit (English and
 * other spaced scripts), or a Chinese/Japanese full stop, exclamation, question mark or semicolon
 * (full- or half-width), which need no space after them. Closing quotes/brackets stay with it.
 */
const SENTENCE_END = /[.!?]["')\]]?\s+(?=["'(\[]?[\p{Lu}\p{N}])|[。！？；｡][」』”’）)\]】]*\s*/gu;

/** Sentences of a chunk: ends as above, and at blank lines / list breaks. */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  for (const block of text.split(/\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)/)) {
    const flat = block.replace(/\s+/g, ' ').trim();
    if (!flat) continue;
    let start = 0;
    for (const m of flat.matchAll(SENTENCE_END)) {
      const end = m.index + m[0].trimEnd().length;
      const candidate = flat.slice(start, end);
      if (/^[.!?]/.test(m[0]) && ABBREVIATIONS.test(candidate)) continue;
      if (candidate.trim()) out.push(candidate.trim());
      start = m.index + m[0].length;
    }
    if (start < flat.length) out.push(flat.slice(start).trim());
  }
  // Fragments ("Yes.", "注：") are no answer: a sentence needs three words, or four characters of
  // a script written without spaces.
  return out
    .filter((s) => s.split(' ').length >= 3 || (isUnspacedTerm(s) && Array.from(s).length >= 4))
    .map((s) => (s.length > MAX_SENTENCE_CHARS ? `${s.slice(0, MAX_SENTENCE_CHARS - 1)}…` : s));
}

interface Candidate {
  text: string;
  n: number;
  terms: string[];
  order: number;
}

const K1 = 1.2;
const B = 0.5;

export function extractSentences(input: ExtractInput): ExtractOutput {
  const minSentences = input.minSentences ?? 2;
  const maxSentences = input.maxSentences ?? 4;
  const query = [...new Set(terms(input.query))];

  const seen = new Set<string>();
  const candidates: Candidate[] = [];
  for (const source of input.sources) {
    for (const text of splitSentences(source.text)) {
      // Overlapping chunks repeat sentences; keep the first (best-ranked) copy.
      const key = text.toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      candidates.push({ text, n: source.n, terms: terms(text), order: candidates.length });
    }
  }
  if (candidates.length === 0) return { sentences: [] };

  const df = new Map<string, number>();
  for (const c of candidates) for (const t of new Set(c.terms)) df.set(t, (df.get(t) ?? 0) + 1);
  const avgLen = candidates.reduce((s, c) => s + c.terms.length, 0) / candidates.length || 1;
  const N = candidates.length;

  const scored = candidates.map((c) => {
    const tf = new Map<string, number>();
    for (const t of c.terms) tf.set(t, (tf.get(t) ?? 0) + 1);
    let score = 0;
    let matched = 0;
    for (const q of query) {
      const f = tf.get(q);
      if (!f) continue;
      matched++;
      const d = df.get(q) ?? 0;
      const idf = Math.log(1 + (N - d + 0.5) / (d + 0.5));
      score += (idf * f * (K1 + 1)) / (f + K1 * (1 - B + (B * c.terms.length) / avgLen));
    }
    // Covering more of the question beats repeating one word; better-ranked sources win ties.
    if (query.length > 0) score *= 1 + matched / query.length;
    score /= 1 + 0.05 * (c.n - 1);
    return { c, score };
  });

  const ranked = scored.filter((s) => s.score > 0).sort((a, b) => b.score - a.score || a.c.order - b.c.order);
  const best = ranked[0]?.score ?? 0;
  const picked = ranked.filter((s, i) => i < maxSentences && (i < minSentences || s.score >= 0.35 * best));
  // No sentence shares a word with the question: lead with the top source's opening sentences
  // (retrieval ranked it first for a reason). When some sentence does match, the answer is not
  // padded with unrelated ones.
  if (picked.length === 0) picked.push(...scored.filter((s) => s.c.n === scored[0]!.c.n).slice(0, minSentences));
  return { sentences: picked.map(({ c, score }) => ({ text: c.text, n: c.n, score })) };
}
