import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { hashEmbed, hashEmbedOne, normalizeForHashing, stem } from '../../src/embedding/hash-embedder.js';

const DIM = 384;
const cos = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
const norm = (a: Float32Array) => Math.sqrt(cos(a, a));
const sim = (x: string, y: string) => cos(hashEmbedOne(x, DIM), hashEmbedOne(y, DIM));

describe('hashEmbed', () => {
  it('returns a row-major texts × dim matrix of unit rows equal to hashEmbedOne', () => {
    const texts = ['solar panels on the roof', 'a recipe for bread', 'quarterly tax filing'];
    const m = hashEmbed(texts, DIM);
    assert.equal(m.length, texts.length * DIM);
    texts.forEach((t, i) => {
      const row = m.subarray(i * DIM, (i + 1) * DIM);
      assert.ok(Math.abs(norm(row) - 1) < 1e-5);
      assert.deepEqual(row, hashEmbedOne(t, DIM));
    });
    assert.equal(hashEmbed([], DIM).length, 0);
  });

  it('is deterministic (same text → identical bits, independent of batch)', () => {
    const a = hashEmbedOne('Deterministic feature hashing, please.', 256);
    const b = hashEmbed(['other', 'Deterministic feature hashing, please.'], 256).subarray(256);
    assert.deepEqual(a, b);
  });

  it('gives overlapping texts a much higher cosine than unrelated ones', () => {
    const q = 'How do solar panels convert sunlight into electricity?';
    const related = 'Solar panel installation converts sunlight to electric power.';
    const unrelated = 'The recipe calls for two cups of flour and an egg.';
    const s1 = sim(q, related);
    const s2 = sim(q, unrelated);
    assert.ok(s1 > 0.4, `related cosine ${s1}`);
    assert.ok(Math.abs(s2) < 0.15, `unrelated cosine ${s2}`);
    assert.ok(s1 - s2 > 0.3);
  });

  it('matches inflections and stems through stemming and character n-grams', () => {
    const s1 = sim('running shoes for marathon training', 'best shoes to run a marathon');
    const s2 = sim('running shoes for marathon training', 'tax deductions for small businesses');
    assert.ok(s1 > s2 + 0.3, `${s1} vs ${s2}`);
    assert.ok(sim('batteries', 'battery') > 0.5);
  });

  it('ranks the right document first for a query', () => {
    const docs = [
      'The inverter converts DC from the panels into AC for the house.',
      'Sourdough bread needs a starter, flour, water and salt.',
      'File your quarterly taxes before the deadline to avoid penalties.',
      'Marathon runners should taper their training before race day.',
    ];
    const queries: [string, number][] = [
      ['what does an inverter do with panel current', 0],
      ['how to bake sourdough bread', 1],
      ['tax deadline penalties', 2],
      ['tapering marathon training', 3],
    ];
    const m = hashEmbed(docs, DIM);
    for (const [q, want] of queries) {
      const qv = hashEmbedOne(q, DIM);
      const scores = docs.map((_, i) => cos(qv, m.subarray(i * DIM, (i + 1) * DIM)));
      const best = scores.indexOf(Math.max(...scores));
      assert.equal(best, want, `${q}: ${scores.map((s) => s.toFixed(2)).join(', ')}`);
    }
  });

  it('ignores case, compatibility forms and diacritics', () => {
    assert.ok(sim('Café RÉSUMÉ naïve', 'cafe resume naive') > 0.999);
    assert.ok(sim('ｆｕｌｌｗｉｄｔｈ text', 'fullwidth text') > 0.999);
    assert.equal(normalizeForHashing('Ｃａｆé'), 'cafe');
  });

  it('leaves text without features (empty, stopwords, punctuation) all-zero', () => {
    for (const t of ['', '   ', 'the of and to in', '!!! ... ???']) {
      const v = hashEmbedOne(t, 64);
      assert.ok(v.every((x) => x === 0), JSON.stringify(t));
    }
  });

  it('handles CJK text (one-character words) and keeps it apart from other CJK', () => {
    assert.ok(sim('太阳能电池板把阳光转化为电能', '太阳能电池板的安装') > sim('太阳能电池板把阳光转化为电能', '面包的做法需要面粉') + 0.2);
  });

  it('rejects a bad dimension', () => {
    assert.throws(() => hashEmbedOne('x', 0), RangeError);
    assert.throws(() => hashEmbed(['x'], 1.5), RangeError);
  });

  it('is fast: 1,000 texts of ~1,000 characters well under two seconds', () => {
    const text = 'Solar panels on the roof feed an inverter that charges the battery bank at night. '.repeat(12);
    const texts = Array.from({ length: 1000 }, (_, i) => `${i} ${text}`);
    const started = Date.now();
    hashEmbed(texts, DIM);
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });

  it('stem folds common English inflections', () => {
    assert.equal(stem('panels'), 'panel');
    assert.equal(stem('batteries'), 'battery');
    assert.equal(stem('running'), 'run');
    assert.equal(stem('converted'), 'convert');
    assert.equal(stem('glass'), 'glass');
    assert.equal(stem('status'), 'status');
  });
});

describe('hash embedder vectors are stable across releases', () => {
  // Stored KBs hold these vectors: any change to them is a new embedder identity, not a speed-up.
  // The digest is of the vectors of the implementation before the typed-array feature counts.
  it('gives bit-identical vectors for Latin, accented, CJK, Cyrillic, fullwidth, long and empty texts', () => {
    const texts = [
      "Solar panels convert sunlight; running panels's output", 'Café naïve résumé ÉCOLE — déjà vu', '中文没有空格的句子，日本語のテキスト',
      'Привет мир Ελληνικά', 'x'.repeat(100) + ' ab a b the of', 'Ｆｕｌｌｗｉｄｔｈ ＡＢＣ ①', '',
      'the quick brown fox jumps over the lazy dog '.repeat(40),
    ];
    const v = hashEmbed(texts, 256);
    assert.equal(createHash('sha256').update(new Uint8Array(v.buffer)).digest('hex'), 'ae9388a60a6df331448c0c508ad43b25dc58d2fb5a35bd889354cbbb42d8efda');
  });
});
