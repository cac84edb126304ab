/** Binary-relevance IR metrics, as BEIR computes them (trec_eval's ndcg_cut / recall). */

/** query id → relevant document ids */
export type Qrels = Map<string, Set<string>>;

export interface Run {
  id: string;
  /** Retrieved document ids, best first, without duplicates. */
  ranked: string[];
}

export function ndcgAt(ranked: string[], relevant: Set<string>, k: number): number {
  let dcg = 0;
  ranked.slice(0, k).forEach((d, i) => {
    if (relevant.has(d)) dcg += 1 / Math.log2(i + 2);
  });
  let ideal = 0;
  for (let i = 0; i < Math.min(relevant.size, k); i++) ideal += 1 / Math.log2(i + 2);
  return ideal === 0 ? 0 : dcg / ideal;
}

export function recallAt(ranked: string[], relevant: Set<string>, k: number): number {
  if (relevant.size === 0) return 0;
  return ranked.slice(0, k).filter((d) => relevant.has(d)).length / relevant.size;
}

/** Reciprocal rank of the first relevant document within the top k (0 when none). */
export function reciprocalRankAt(ranked: string[], relevant: Set<string>, k: number): number {
  const i = ranked.slice(0, k).findIndex((d) => relevant.has(d));
  return i < 0 ? 0 : 1 / (i + 1);
}

/** Means over the runs that have judgements. */
export function evaluate(runs: Run[], qrels: Qrels, k: number): { ndcg: number; recall: number; mrr: number; queries: number } {
  let ndcg = 0;
  let recall = 0;
  let mrr = 0;
  let n = 0;
  for (const run of runs) {
    const rel = qrels.get(run.id);
    if (!rel || rel.size === 0) continue;
    ndcg += ndcgAt(run.ranked, rel, k);
    recall += recallAt(run.ranked, rel, k);
    mrr += reciprocalRankAt(run.ranked, rel, k);
    n++;
  }
  return { ndcg: n ? ndcg / n : 0, recall: n ? recall / n : 0, mrr: n ? mrr / n : 0, queries: n };
}
