import type { Logger } from 'pino';
import { deadline } from '../../domain/deadline.js';
import type { Reranker } from '../../ports/models.js';
import type { ChunkHit } from '../../ports/store.js';
import type { RerankInfo } from './types.js';

/** How many fused candidates the reranker gets to reorder. */
export function rerankCandidates(topK: number): number {
  return Math.min(Math.max(topK * 3, 20), 100);
}

export interface RerankStepOptions {
  /** The whole step (queueing in the lane and retries included) gets this long. */
  timeoutMs: number;
}

/**
 * The optional rerank step. A reranker is an improvement, not a dependency: when it fails or is
 * too slow the query keeps the fused order and reports why in `rerank.fallback_reason`.
 */
export class RerankStep {
  constructor(
    private readonly reranker: Reranker,
    private readonly opts: RerankStepOptions,
    private readonly logger?: Logger,
  ) {}

  async run(query: string, hits: ChunkHit[], topK: number, signal?: AbortSignal, requestId?: string): Promise<{ hits: ChunkHit[]; info: RerankInfo }> {
    // Nothing to reorder: the order is already the reranker's.
    if (hits.length < 2) return { hits, info: { applied: true } };
    const limit = deadline(this.opts.timeoutMs, signal);
    try {
      const order = await this.reranker.rerank(
        query,
        hits.map((h) => h.text),
        { topN: Math.min(topK, hits.length), signal: limit.signal, ...(requestId ? { requestId } : {}) },
      );
      if (order.length === 0) throw new Error('reranker returned no results');
      return { hits: order.map((o) => ({ ...hits[o.index]!, score: o.score })), info: { applied: true } };
    } catch (err) {
      // The caller going away is not a rerank failure: let it end the query.
      if (signal?.aborted) throw err;
      const reason = limit.expired
        ? `reranker did not answer within ${this.opts.timeoutMs} ms; results are in fused order`
        : `reranker failed (${err instanceof Error ? err.message : String(err)}); results are in fused order`;
      this.logger?.warn({ err }, 'rerank failed; keeping the fused order');
      return { hits, info: { applied: false, fallback_reason: reason } };
    } finally {
      limit.clear();
    }
  }
}
