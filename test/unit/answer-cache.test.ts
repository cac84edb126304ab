import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AnswerCache, answerKey, type AnswerKeyParts, type CachedAnswer, citationsOf, normalizeQuery } from '../../src/services/query/answer-cache.js';
import { LruCache } from '../../src/services/query/lru.js';

const base: AnswerKeyParts = {
  tenantId: 't1',
  kbId: 'kb',
  kbVersion: 3,
  kbCreatedAt: '2026-01-01T00:00:00.000Z',
  embedder: 'hash:512',
  query: 'What is the boiling point of water?',
  mode: 'hybrid',
  topK: 5,
  onlyContext: false,
  answerer: 'extractive',
  reranker: null,
};

const answer = (text: string): CachedAnswer => ({
  answer: text,
  answer_kind: 'extractive',
  citations: [{ document_id: 'd', document_name: 'n', chunk_id: 'c', text: 'chunk text', score: 1, page: null }],
});

describe('answer cache keys', () => {
  it('normalises the query: NFKC, case, whitespace', () => {
    assert.equal(normalizeQuery('  Ｗhat   IS\tthe\nanswer?  '), 'what is the answer?');
    // The plain-ASCII shortcut gives what the full normalisation gives.
    for (const q of ['What IS the answer?', 'what is the answer?', 'a', 'x  y', ' x', 'x ', 'tab\tsep', 'ﬁle', 'Ǆ', '~!@#$%^&*()_+{}|:"<>?', ''])
      assert.equal(normalizeQuery(q), q.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim(), JSON.stringify(q));
    assert.equal(answerKey(base), answerKey({ ...base, query: '  what IS the   boiling point of WATER?' }));
  });

  it('changes with every part that changes the answer', () => {
    const k = answerKey(base);
    const variants: Partial<AnswerKeyParts>[] = [
      { tenantId: 't2' },
      { kbId: 'other' },
      { kbVersion: 4 },
      { kbCreatedAt: '2026-02-01T00:00:00.000Z' },
      { embedder: 'hash:256' },
      { query: 'What is the melting point of water?' },
      { mode: 'lexical' },
      { topK: 6 },
      { onlyContext: true },
      { filter: { documentIds: ['doc_a'] } },
      { filter: { metadata: { lang: 'en' } } },
      { answerer: 'llm:http://x#m' },
      { reranker: 'http://r#m' },
    ];
    const keys = new Set([k]);
    for (const v of variants) keys.add(answerKey({ ...base, ...v }));
    assert.equal(keys.size, variants.length + 1, 'every variant has its own key');
  });

  it('treats equivalent filters alike and absent/empty filters alike', () => {
    assert.equal(
      answerKey({ ...base, filter: { documentIds: ['b', 'a', 'a'], metadata: { y: 1, x: true } } }),
      answerKey({ ...base, filter: { documentIds: ['a', 'b'], metadata: { x: true, y: 1 } } }),
    );
    assert.equal(answerKey({ ...base, filter: { documentIds: [] } }), answerKey(base));
    assert.notEqual(answerKey({ ...base, filter: { metadata: { x: 1 } } }), answerKey({ ...base, filter: { metadata: { x: '1' } } }));
  });
});

describe('AnswerCache', () => {
  it('returns what was stored until the TTL passes', () => {
    let now = 1_000;
    const cache = new AnswerCache({ maxEntries: 10, maxBytes: 1 << 20, ttlMs: 500, now: () => now });
    cache.set('k', answer('a'));
    assert.equal(cache.get('k')?.answer, 'a');
    now += 499;
    assert.equal(cache.get('k')?.answer, 'a');
    now += 1;
    assert.equal(cache.get('k'), undefined);
    assert.equal(cache.stats().entries, 0);
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const cache = new AnswerCache({ maxEntries: 2, maxBytes: 1 << 20, ttlMs: 60_000 });
    cache.set('a', answer('A'));
    cache.set('b', answer('B'));
    assert.ok(cache.get('a')); // a is now more recent than b
    cache.set('c', answer('C'));
    assert.equal(cache.get('b'), undefined);
    assert.equal(cache.get('a')?.answer, 'A');
    assert.equal(cache.get('c')?.answer, 'C');
  });

  it('holds a packed copy: the citations come back equal, and the caller keeps its own objects', () => {
    const cache = new AnswerCache({ maxEntries: 10, maxBytes: 1 << 20, ttlMs: 60_000 });
    const stored: CachedAnswer = {
      ...answer('a "quoted" answer\n'),
      citations: [
        { document_id: 'd1', document_name: 'ünï "name".md', chunk_id: 'c1', text: 'line\u2028two 🌊 \u0000', score: 0.25, page: 7 },
        { document_id: 'd2', document_name: 'b', chunk_id: 'c2', text: '', score: 1e-9, page: null },
      ],
      rerank: { applied: false, fallback_reason: 'timeout' },
      retrievalNotice: 'lexical only',
    };
    cache.set('k', stored);
    const hit = cache.get('k')!;
    assert.deepEqual(citationsOf(hit), stored.citations);
    assert.deepEqual(hit.rerank, stored.rerank);
    assert.equal(hit.retrievalNotice, 'lexical only');
    assert.equal(hit.answer, stored.answer);
    // Changing the caller's objects afterwards does not change the entry, and the entry is frozen.
    stored.citations[0]!.text = 'changed';
    stored.rerank!.applied = true;
    assert.equal(citationsOf(hit)[0]!.text, 'line\u2028two 🌊 \u0000');
    assert.equal(hit.rerank!.applied, false);
    assert.ok(Object.isFrozen(hit) && Object.isFrozen(hit.rerank));
  });

  it('stays within maxBytes, and refuses a single value larger than the budget', () => {
    const cache = new AnswerCache({ maxEntries: 1000, maxBytes: 4_000, ttlMs: 60_000 });
    for (let i = 0; i < 50; i++) cache.set(`k${i}`, answer('x'.repeat(300)));
    assert.ok(cache.stats().bytes <= 4_000, `bytes ${cache.stats().bytes}`);
    assert.ok(cache.stats().entries < 50);
    assert.ok(cache.get('k49'), 'the newest entry survives');
    cache.set('huge', answer('x'.repeat(10_000)));
    assert.equal(cache.get('huge'), undefined);
  });
});

describe('LruCache', () => {
  it('replacing a key updates its size accounting', () => {
    const lru = new LruCache<string>({ maxEntries: 10, maxSize: 100, ttlMs: 1000, sizeOf: (v) => v.length });
    lru.set('a', 'xxxxxxxxxx');
    lru.set('a', 'xx');
    assert.equal(lru.totalSize, 2);
    assert.equal(lru.entries, 1);
    lru.delete('a');
    assert.equal(lru.totalSize, 0);
  });
});
