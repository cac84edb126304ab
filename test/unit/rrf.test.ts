import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChunkHit } from '../../src/ports/store.js';
import { fetchDepth, fuseRrf, RRF_K } from '../../src/services/query/retrieval.js';

const hit = (id: string, score = 0): ChunkHit => ({
  chunkId: id,
  documentId: `doc-${id}`,
  documentName: `${id}.txt`,
  ordinal: 0,
  text: `text of ${id}`,
  headingPath: [],
  page: null,
  score,
});

describe('reciprocal rank fusion', () => {
  it('scores each chunk by the sum of 1/(k + rank) over the lists it appears in', () => {
    const fused = fuseRrf([
      [hit('a', 12), hit('b', 9), hit('c', 1)],
      [hit('c', 0.9), hit('a', 0.8)],
    ]);
    const score = Object.fromEntries(fused.map((h) => [h.chunkId, h.score]));
    assert.equal(score.a, 1 / (RRF_K + 1) + 1 / (RRF_K + 2));
    assert.equal(score.c, 1 / (RRF_K + 3) + 1 / (RRF_K + 1));
    assert.equal(score.b, 1 / (RRF_K + 2));
    assert.deepEqual(
      fused.map((h) => h.chunkId),
      ['a', 'c', 'b'],
    );
  });

  it('puts a chunk found by both searches above chunks found by one', () => {
    const fused = fuseRrf([
      [hit('lex-only'), hit('both')],
      [hit('vec-only'), hit('both')],
    ]);
    assert.equal(fused[0]!.chunkId, 'both');
    assert.equal(fused.length, 3);
  });

  it('breaks ties deterministically: better single rank, then the earlier list', () => {
    const fused = fuseRrf([[hit('x')], [hit('y')]]);
    assert.deepEqual(
      fused.map((h) => h.chunkId),
      ['x', 'y'],
    );
  });

  it('ignores raw scores (BM25 and cosine live on different scales)', () => {
    const a = fuseRrf([[hit('a', 1000), hit('b', 0.001)], [hit('b', 0.99), hit('a', 0.98)]]);
    const b = fuseRrf([[hit('a', 1), hit('b', 0.9)], [hit('b', 5), hit('a', 4)]]);
    assert.deepEqual(
      a.map((h) => [h.chunkId, h.score]),
      b.map((h) => [h.chunkId, h.score]),
    );
  });

  it('weights scale a list: a weak vector ranking reorders BM25 less', () => {
    const lists = [
      [hit('lex1'), hit('lex2')],
      [hit('lex2'), hit('vec1')],
    ];
    // Equal weights: lex2, found by both, overtakes lex1.
    assert.deepEqual(
      fuseRrf(lists).map((h) => h.chunkId),
      ['lex2', 'lex1', 'vec1'],
    );
    // At 0.01 the vector side can no longer outvote one BM25 rank.
    const weighted = fuseRrf(lists, [1, 0.01]);
    assert.deepEqual(
      weighted.map((h) => h.chunkId),
      ['lex1', 'lex2', 'vec1'],
    );
    assert.equal(weighted[1]!.score, 1 / (RRF_K + 2) + 0.01 / (RRF_K + 1));
  });

  it('handles empty lists and keeps the hit fields', () => {
    assert.deepEqual(fuseRrf([[], []]), []);
    const [only] = fuseRrf([[], [hit('z')]]);
    assert.equal(only!.documentName, 'z.txt');
  });

  it('fetches at least 40 from each side, or 4 × top_k', () => {
    assert.equal(fetchDepth(5), 40);
    assert.equal(fetchDepth(20), 80);
  });
});
