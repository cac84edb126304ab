/**
 * Feature-hashing text embedder: no model, no network, deterministic across processes.
 *
 * Features (after NFKC, lower-casing and stripping Latin/Greek/Cyrillic diacritics):
 *   - word unigrams (stopwords dropped, a light English suffix stemmer applied)  weight 1.0
 *   - word bigrams over the stopword-free sequence                                weight 0.6
 *   - character 3- and 4-grams inside each word, with boundary markers ("<word>")  weight 0.25
 * Han/Kana characters are treated as one-character words (no spaces in CJK text), so their
 * bigrams act as character bigrams.
 * Each feature's value is weight × (1 + ln tf); it is added to index hash mod dim with a sign
 * taken from an independently mixed bit (signed hashing keeps collisions unbiased). Rows are
 * L2-normalised; a text with no features stays all-zero.
 */

const STOPWORDS = new Set([
  'a', 'an', 'and', 'are', 'as', 'at', 'be', 'been', 'but', 'by', 'can', 'did', 'do', 'does', 'for',
  'from', 'had', 'has', 'have', 'he', 'her', 'his', 'how', 'i', 'if', 'in', 'into', 'is', 'it', 'its',
  'me', 'my', 'of', 'on', 'or', 'our', 'she', 'so', 'than', 'that', 'the', 'their', 'them', 'then',
  'there', 'these', 'they', 'this', 'those', 'to', 'was', 'we', 'were', 'what', 'when', 'where',
  'which', 'who', 'whom', 'why', 'will', 'with', 'would', 'you', 'your',
]);

const W_UNIGRAM = 1.0;
const W_BIGRAM = 0.6;
const W_CHAR = 0.25;
/** Char n-grams of very long "words" (hashes, base64) add noise and cost: cap the length used. */
const MAX_WORD_FOR_CHARGRAMS = 32;

// Distinct seeds keep the feature spaces apart ("ab" the word ≠ "ab" the char-gram).
const SEED_UNI = 0x9e3779b9;
const SEED_BI = 0x85ebca6b;
const SEED_CHAR = 0xc2b2ae35;

const fnvStart = (seed: number) => (0x811c9dc5 ^ seed) >>> 0;

/** FNV-1a state `h` advanced over the UTF-16 code units of s[start, end). */
function fnv(h: number, s: string, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

const fnvUnit = (h: number, unit: number) => Math.imul(h ^ unit, 0x01000193);

/** FNV-1a over UTF-16 code units of s[start, end), then a murmur3 finaliser for avalanche. */
function hashRange(s: string, start: number, end: number, seed: number): number {
  return fmix32(fnv(fnvStart(seed), s, start, end));
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Lower-case, compatibility-normalise and strip combining diacritics (U+0300–U+036F only,
 *  so Indic vowel signs and other meaningful marks survive). */
export function normalizeForHashing(text: string): string {
  // ASCII is its own NFKC/NFD/NFC form and has no combining marks: only the case changes.
  if (ASCII_RE.test(text)) return text.toLowerCase();
  return text.normalize('NFKC').toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '').normalize('NFC');
}

const ASCII_RE = /^[\x00-\x7f]*$/;

const WORD_RE = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]|[\p{L}\p{N}]+(?:['’][\p{L}]+)*/gu;

/** Very light stemmer: folds common English inflections so "panels"/"panel", "running"/"run" meet. */
export function stem(w: string): string {
  if (w.length <= 3) return w;
  if (w.endsWith('ies') && w.length > 4) return w.slice(0, -3) + 'y';
  if (w.endsWith("'s") || w.endsWith('’s')) return w.slice(0, -2);
  if (w.endsWith('sses')) return w.slice(0, -2);
  if (w.endsWith('s') && !w.endsWith('ss') && !w.endsWith('us') && !w.endsWith('is')) w = w.slice(0, -1);
  if (w.length > 5 && w.endsWith('ing')) w = undouble(w.slice(0, -3));
  else if (w.length > 4 && w.endsWith('ed')) w = undouble(w.slice(0, -2));
  else if (w.length > 4 && w.endsWith('ly')) w = w.slice(0, -2);
  return w;
}

function undouble(w: string): string {
  const n = w.length;
  return n > 2 && w[n - 1] === w[n - 2] && !/[aeiouls]/.test(w[n - 1]!) ? w.slice(0, -1) : w;
}

/**
 * Feature hash → accumulated term frequency, kept in first-seen order (the order the features are
 * added to the row, which decides the float sums to the last bit). An open-addressing table on
 * typed arrays, reused from text to text: a Map allocated entries per feature and was the
 * ingest threads' largest cost.
 */
class FeatureCounts {
  private keys = new Uint32Array(1024);
  private tfs = new Uint32Array(1024);
  /** Slot of each distinct feature, in first-seen order. */
  private order = new Uint32Array(1024);
  size = 0;

  add(h: number): void {
    const mask = this.keys.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const tf = this.tfs[slot]!;
      if (tf === 0) {
        this.keys[slot] = h;
        this.tfs[slot] = 1;
        this.order[this.size++] = slot;
        if (this.size * 2 > this.keys.length) this.grow();
        return;
      }
      if (this.keys[slot] === h) {
        this.tfs[slot] = tf + 1;
        return;
      }
    }
  }

  /** Calls fn(hash, tf) for each distinct feature in first-seen order. */
  forEach(fn: (h: number, tf: number) => void): void {
    for (let i = 0; i < this.size; i++) {
      const slot = this.order[i]!;
      fn(this.keys[slot]!, this.tfs[slot]!);
    }
  }

  clear(): void {
    for (let i = 0; i < this.size; i++) this.tfs[this.order[i]!] = 0;
    this.size = 0;
  }

  private grow(): void {
    const { keys, tfs, order, size } = this;
    this.keys = new Uint32Array(keys.length * 2);
    this.tfs = new Uint32Array(keys.length * 2);
    this.order = new Uint32Array(keys.length * 2);
    this.size = 0;
    const mask = this.keys.length - 1;
    for (let i = 0; i < size; i++) {
      const h = keys[order[i]!]!;
      let slot = h & mask;
      while (this.tfs[slot] !== 0) slot = (slot + 1) & mask;
      this.keys[slot] = h;
      this.tfs[slot] = tfs[order[i]!]!;
      this.order[this.size++] = slot;
    }
  }
}

interface Counts {
  uni: FeatureCounts;
  bi: FeatureCounts;
  char: FeatureCounts;
}

const LT = 0x3c; // '<'
const GT = 0x3e; // '>'
const SPACE = 0x20;

/**
 * Reused by every call (one text at a time in a thread): the maps are emptied, not reallocated.
 * Features are hashed straight from the code units, without building the bigram ("prev s") or
 * the padded word ("<word>") strings: the same FNV sequence, so the same hashes.
 */
const COUNTS: Counts = { uni: new FeatureCounts(), bi: new FeatureCounts(), char: new FeatureCounts() };

function countFeatures(text: string): Counts {
  const counts = COUNTS;
  counts.uni.clear();
  counts.bi.clear();
  counts.char.clear();
  const norm = normalizeForHashing(text);
  let prev: string | null = null;
  for (const m of norm.matchAll(WORD_RE)) {
    const word = m[0];
    if (STOPWORDS.has(word)) continue;
    const s = stem(word);
    counts.uni.add(hashRange(s, 0, s.length, SEED_UNI));
    if (prev !== null) {
      const h = fnv(fnvUnit(fnv(fnvStart(SEED_BI), prev, 0, prev.length), SPACE), s, 0, s.length);
      counts.bi.add(fmix32(h));
    }
    prev = s;
    if (word.length > 1) countCharGrams(counts.char, word, Math.min(word.length, MAX_WORD_FOR_CHARGRAMS));
  }
  return counts;
}

/** 3- and 4-grams of "<" + word[0, len) + ">", hashed in place. */
function countCharGrams(m: FeatureCounts, word: string, len: number): void {
  const last = len + 1; // index of ">" in the padded word
  for (let n = 3; n <= 4; n++) {
    const start = fnvStart(SEED_CHAR + n);
    for (let i = 0; i + n <= len + 2; i++) {
      let h = start;
      for (let k = i; k < i + n; k++) {
        h ^= k === 0 ? LT : k === last ? GT : word.charCodeAt(k - 1);
        h = Math.imul(h, 0x01000193);
      }
      m.add(fmix32(h));
    }
  }
}

function addFamily(row: Float32Array, m: FeatureCounts, weight: number): void {
  const dim = row.length;
  m.forEach((h, tf) => {
    const sign = fmix32(h ^ 0x5bd1e995) & 1 ? 1 : -1;
    row[h % dim]! += sign * weight * (1 + Math.log(tf));
  });
}

/** Embed one text into `out` (length dim), which must be zeroed. */
function embedInto(text: string, out: Float32Array): void {
  const c = countFeatures(text);
  addFamily(out, c.uni, W_UNIGRAM);
  addFamily(out, c.bi, W_BIGRAM);
  addFamily(out, c.char, W_CHAR);
  let sq = 0;
  for (let i = 0; i < out.length; i++) sq += out[i]! * out[i]!;
  if (sq > 0) {
    const inv = 1 / Math.sqrt(sq);
    for (let i = 0; i < out.length; i++) out[i]! *= inv;
  }
}

function checkDim(dim: number): void {
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer, got ${dim}`);
}

/** Row-major texts.length × dim matrix of L2-normalised embeddings. */
export function hashEmbed(texts: string[], dim: number): Float32Array {
  checkDim(dim);
  const out = new Float32Array(texts.length * dim);
  texts.forEach((t, i) => embedInto(t, out.subarray(i * dim, (i + 1) * dim)));
  return out;
}

export function hashEmbedOne(text: string, dim: number): Float32Array {
  checkDim(dim);
  const out = new Float32Array(dim);
  embedInto(text, out);
  return out;
}
