import type { ChunkHit } from '../../ports/store.js';

/**
 * Reciprocal rank fusion: score(d) = Σ 1 / (k + rank_i(d)). It needs no calibration between BM25
 * and cosine scores, which live on unrelated scales. Pure, so the search worker can fuse too.
 */

export const RRF_K = 60;

/** How deep each side is searched before fusion or reranking. */
export function fetchDepth(topK: number): number {
  return Math.max(topK * 4, 40);
}

/**
 * Fuses rankings (each best first) into one, best first; `score` becomes the fused score.
 * `weights[i]` scales list i's contributions (default 1): weighted RRF, for when one ranker is
 * known to be weaker (the local hash embedder against BM25). Ties go to the chunk with the
 * better single rank, then to the earlier list, so the order is deterministic.
 */
export function fuseRrf(lists: readonly ChunkHit[][], weights: readonly number[] = [], k = RRF_K): ChunkHit[] {
  return fuseRanked(lists, (h) => h.chunkId, weights, k);
}

/**
 * fuseRrf over any ranked items, identified by `keyOf`: the search worker fuses bare
 * (rowid, score) pairs and reads chunk text for the fused top hits only.
 */
export function fuseRanked<T extends { score: number }>(
  lists: readonly T[][],
  keyOf: (item: T) => string | number,
  weights: readonly number[] = [],
  k = RRF_K,
): T[] {
  const fused = new Map<string | number, { item: T; score: number; best: number; list: number }>();
  lists.forEach((list, li) => {
    const weight = weights[li] ?? 1;
    list.forEach((item, i) => {
      const rank = i + 1;
      const key = keyOf(item);
      const entry = fused.get(key);
      if (entry) {
        entry.score += weight / (k + rank);
        if (rank < entry.best) entry.best = rank;
      } else {
        fused.set(key, { item, score: weight / (k + rank), best: rank, list: li });
      }
    });
  });
  return [...fused.values()]
    .sort((a, b) => b.score - a.score || a.best - b.best || a.list - b.list)
    .map((e) => ({ ...e.item, score: e.score }));
}
