import { AppError } from '../../domain/errors.js';
import type { Scope } from '../../domain/types.js';
import type { ChunkHit, KbRecord, SearchFilter, Store } from '../../ports/store.js';
import type { EmbeddingCache } from './embedding-cache.js';
import type { SearchMode } from './types.js';

/**
 * Lexical (BM25 in FTS5), vector (KNN in sqlite-vec) and hybrid retrieval. Hybrid runs both and
 * fuses the two rankings with reciprocal rank fusion: score(d) = Σ 1 / (k + rank_i(d)). RRF
 * needs no score calibration between BM25 and cosine, which live on unrelated scales.
 */

export const RRF_K = 60;

/** How deep each side is searched before fusion or reranking. */
export function fetchDepth(topK: number): number {
  return Math.max(topK * 4, 40);
}

/**
 * Fuses rankings (each best first) into one, best first; `score` becomes the fused score.
 * Ties go to the chunk with the better single rank, then to the earlier list, so the order is
 * deterministic. Sub-millisecond for the ~100 hits it is given: no need for a worker.
 */
export function fuseRrf(lists: readonly ChunkHit[][], k = RRF_K): ChunkHit[] {
  const fused = new Map<string, { hit: ChunkHit; score: number; best: number; list: number }>();
  lists.forEach((list, li) => {
    list.forEach((hit, i) => {
      const rank = i + 1;
      const entry = fused.get(hit.chunkId);
      if (entry) {
        entry.score += 1 / (k + rank);
        if (rank < entry.best) entry.best = rank;
      } else {
        fused.set(hit.chunkId, { hit, score: 1 / (k + rank), best: rank, list: li });
      }
    });
  });
  return [...fused.values()]
    .sort((a, b) => b.score - a.score || a.best - b.best || a.list - b.list)
    .map((e) => ({ ...e.hit, score: e.score }));
}

export interface RetrieveInput {
  scope: Scope;
  kb: KbRecord;
  query: string;
  mode: SearchMode;
  /** How many hits to return. */
  depth: number;
  filter?: SearchFilter;
  signal?: AbortSignal;
}

export interface RetrieveOutput {
  hits: ChunkHit[];
  /** Set when the requested mode could not be fully honoured. */
  notice?: string;
}

export class Retriever {
  constructor(
    private readonly store: Store,
    private readonly embeddings: EmbeddingCache,
  ) {}

  async retrieve(input: RetrieveInput): Promise<RetrieveOutput> {
    const { scope, kb, query, mode, filter } = input;
    // A KB built with another embedder lives in another vector space: its vectors cannot be
    // compared with ours. Vector search refuses; hybrid degrades to lexical and says so.
    const vectorsUsable = kb.embedder === this.embeddings.embedderId;
    if (mode === 'vector' && !vectorsUsable) {
      throw new AppError(
        409,
        'embedder_mismatch',
        `knowledge base "${kb.id}" was built with embedder ${kb.embedder}, this server embeds with ${this.embeddings.embedderId}`,
      );
    }
    if (mode === 'lexical' || (mode === 'hybrid' && !vectorsUsable)) {
      const hits = await this.store.searchLexical(scope, query, input.depth, filter);
      return mode === 'hybrid'
        ? { hits, notice: `vector search skipped: the knowledge base was built with embedder ${kb.embedder}` }
        : { hits };
    }
    if (mode === 'vector') return { hits: await this.vector(input, input.depth) };

    // Hybrid: BM25 starts at once, in parallel with embedding the query.
    const depth = Math.max(input.depth, fetchDepth(input.depth));
    const [lexical, vector] = await Promise.all([
      this.store.searchLexical(scope, query, depth, filter),
      this.vector(input, depth),
    ]);
    return { hits: fuseRrf([lexical, vector]).slice(0, input.depth) };
  }

  private async vector(input: RetrieveInput, depth: number): Promise<ChunkHit[]> {
    const vector = await this.embeddings.embed(input.query, input.signal);
    return this.store.searchVector(input.scope, vector, depth, input.filter);
  }
}
