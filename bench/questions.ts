/**
 * Distinct, plausible questions for bench:query: a few words drawn from the seeded corpus plus a
 * sequence number, so no two are alike (every one misses the answer and embedding caches).
 */
export class Questions {
  private words: string[] = ['archive', 'report', 'system', 'history'];
  private seq = 0;
  private state = 0x9e3779b9;

  learn(texts: string[]): void {
    const vocab = new Set<string>();
    for (const t of texts) for (const w of t.toLowerCase().match(/[a-z]{5,}/g) ?? []) vocab.add(w);
    if (vocab.size > 0) this.words = [...vocab];
  }

  next(): string {
    const pick = () => this.words[this.rand() % this.words.length]!;
    return `What does the corpus say about ${pick()} and ${pick()} in ${pick()}? (${++this.seq})`;
  }

  /** xorshift32: deterministic across runs. */
  private rand(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
}
