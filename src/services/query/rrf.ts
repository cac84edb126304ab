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
  const fused = new Map<string, { hit: ChunkHit; score: number; best: number; list: number }>();
  lists.forEach((list, li) => {
    const weight = weights[li] ?? 1;
    list.forEach((hit, i) => {
      const rank = i + 1;
      const entry = fused.get(hit.chunkId);
      if (entry) {
        entry.score += weight / (k + rank);
        if (rank < entry.best) entry.best = rank;
      } else {
        fused.set(hit.chunkId, { hit, score: weight / (k + rank), best: rank, list: li });
      }
    });
  });
  return [...fused.values()]
    .sort((a, b) => b.score - a.score || a.best - b.best || a.list - b.list)
    .map((e) => ({ ...e.hit, score: e.score }));
}
