/**
 * A rule-based sentence splitter, good enough to choose chunk boundaries: it returns spans into
 * the original string (so callers can slice without losing characters) and errs on the side of
 * NOT splitting when unsure — a missed boundary only makes a piece longer, which the chunker
 * handles by splitting on tokens.
 *
 * A boundary is:
 *  - a line break (lists, tables, code and poetry are line-oriented);
 *  - . ! ? or … (plus closing quotes/brackets) followed by whitespace, unless the word before a
 *    period is a known abbreviation ("e.g.", "Dr.") or a single initial ("J."), or the next
 *    word starts in lower case;
 *  - a CJK full stop / exclamation / question mark / semicolon (。！？；．｡), which needs no space
 *    after it (Chinese and Japanese put none; a Chinese ；often separates whole clauses of rules).
 * Decimals ("3.14") never split because no whitespace follows the point.
 */

export interface Span {
  start: number;
  end: number;
}

/**
 * Abbreviations after which a period does not end a sentence (lower-case, without the final
 * dot). Abbreviations that are also common words ("no", "min", "art") are left out. "etc." is
 * in: it ends a sentence less often than it ends a clause, and a missed boundary is cheap.
 */
const NEVER_END = new Set([
  'mr', 'mrs', 'ms', 'dr', 'prof', 'sr', 'jr', 'st', 'mt', 'ft', 'vs', 'v', 'cf', 'ca', 'approx',
  'e.g', 'i.e', 'eg', 'ie', 'viz', 'al', 'fig', 'figs', 'eq', 'eqs', 'vol', 'vols',
  'pp', 'ch', 'sec', 'dept', 'gov', 'sen', 'rev', 'capt',
  'lt', 'sgt', 'cmdr', 'adm', 'maj', 'avg', 'refs', 'etc',
  'jan', 'feb', 'mar', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec',
  'u.s', 'u.k', 'a.m', 'p.m', 'ph.d', 'm.d', 'b.a', 'm.a', 'b.sc', 'm.sc',
]);

const CLOSERS = new Set(['"', "'", ')', ']', '}', '»', '”', '’', '」', '』', '）', '】']);
const TERMINAL = new Set(['.', '!', '?', '…']);
const CJK_TERMINAL = new Set(['。', '！', '？', '；', '．', '｡']);

const isSpace = (ch: string) => ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\f' || ch === '\u00a0';
const isLower = (ch: string) => ch.toLowerCase() === ch && ch.toUpperCase() !== ch;

/** The word that ends at `end` (exclusive), e.g. "e.g" for "… e.g." with end at the final dot. */
function wordBefore(text: string, end: number): string {
  let i = end;
  while (i > 0 && !isSpace(text[i - 1]!) && text[i - 1] !== '(' && text[i - 1] !== '"') i--;
  return text.slice(i, end);
}

function isAbbreviation(word: string): boolean {
  const w = word.toLowerCase();
  if (NEVER_END.has(w)) return true;
  // A single letter ("J. Smith") or dotted initials ("U.S.A") are abbreviations.
  return /^\p{L}$/u.test(word) || /^(?:\p{L}\.)+\p{L}$/u.test(word);
}

/** Sentence spans, trimmed of surrounding whitespace, in order, covering all non-space text. */
export function sentenceSpans(text: string): Span[] {
  const spans: Span[] = [];
  let start = 0;
  const push = (end: number) => {
    let s = start;
    let e = end;
    while (s < e && isSpace(text[s]!)) s++;
    while (e > s && isSpace(text[e - 1]!)) e--;
    if (e > s) spans.push({ start: s, end: e });
    start = end;
  };

  const n = text.length;
  for (let i = 0; i < n; i++) {
    const ch = text[i]!;
    if (ch === '\n') {
      push(i);
      continue;
    }
    if (CJK_TERMINAL.has(ch)) {
      let j = i + 1;
      while (j < n && (CLOSERS.has(text[j]!) || CJK_TERMINAL.has(text[j]!))) j++;
      push(j);
      i = j - 1;
      continue;
    }
    if (!TERMINAL.has(ch)) continue;

    // Swallow runs like "?!" or "..." and closing quotes/brackets.
    let j = i + 1;
    while (j < n && (TERMINAL.has(text[j]!) || CLOSERS.has(text[j]!))) j++;
    if (j < n && !isSpace(text[j]!)) {
      i = j - 1;
      continue; // "3.14", "example.com", "a.b": no whitespace, no boundary
    }
    // Next visible character decides: lower case continues the sentence.
    let k = j;
    while (k < n && isSpace(text[k]!) && text[k] !== '\n') k++;
    const next = text[k];
    if (next !== undefined && next !== '\n' && isLower(next)) {
      i = j - 1;
      continue;
    }
    if (ch === '.' && j === i + 1 && isAbbreviation(wordBefore(text, i))) {
      i = j - 1;
      continue;
    }
    push(j);
    i = j - 1;
  }
  push(n);
  return spans;
}

export function splitSentences(text: string): string[] {
  return sentenceSpans(text).map((s) => text.slice(s.start, s.end));
}
