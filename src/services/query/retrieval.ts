import { vectorSearchUnavailable } from '../../domain/errors.js';
import { notices } from '../../domain/messages.js';
import { DEFAULT_LANG, type Lang } from '../../text/language.js';
import type { Scope } from '../../domain/types.js';
import type { Embedder, EmbedderResolver } from '../../ports/models.js';
import type { ChunkHit, KbRecord, SearchFilter, Store } from '../../ports/store.js';
import { requireKbEmbedder } from '../kb-embedder.js';
import { normalizeQuery } from './answer-cache.js';
import type { EmbeddingCache } from './embedding-cache.js';
import { HASH_VECTOR_WEIGHT } from './query-options.js';
import { fetchDepth, fuseRrf } from './rrf.js';
import type { SearchMode } from './types.js';

export { fetchDepth, fuseRrf, RRF_K } from './rrf.js';

/**
 * Lexical (BM25 in FTS5), vector (KNN in sqlite-vec) and hybrid retrieval; hybrid fuses the two
 * rankings with reciprocal rank fusion (rrf.ts).
 */

export interface RetrieveInput {
  scope: Scope;
  kb: KbRecord;
  query: string;
  mode: SearchMode;
  /** How many hits to return. */
  depth: number;
  filter?: SearchFilter;
  signal?: AbortSignal;
  /** The HTTP request asking (named in the embedding provider's log lines). */
  requestId?: string;
  /** Keep every ranking (RetrieveOutput.rankings), not only the final one. */
  explain?: boolean;
  /** The language of the notice (default English). */
  lang?: Lang;
}

/** Each ranking a retrieval ran, best first, before any cut to `depth`. */
export interface Rankings {
  lexical: ChunkHit[] | null;
  vector: ChunkHit[] | null;
  fused: ChunkHit[] | null;
}

export interface RetrieveOutput {
  hits: ChunkHit[];
  /** With `explain`. */
  rankings?: Rankings;
  /** Set when the requested mode could not be fully honoured. */
  notice?: string;
}

/**
 * With a local index, a whole vector or hybrid retrieval is one search-pool task: hash-embed the
 * (normalised) question unless its vector is given, KNN, and for hybrid BM25 + RRF.
 * One trip through the pool's queue instead of three, and only the fused top hits come back
 * across the thread boundary — what matters when many questions arrive at once.
 */
export interface LocalSearchRequest {
  scope: Scope;
  dim: number;
  /** The normalised question, hash-embedded in the worker exactly as ingestion embeds chunks. */
  text: string;
  /** The question's vector when the caller has it cached. */
  vector?: Float32Array;
  /** Set for hybrid: the BM25 side's query. */
  lexicalQuery?: string;
  /** Depth of each side before fusion. */
  fetch: number;
  /** RRF weight of the vector ranking against BM25's 1. */
  vectorWeight: number;
  depth: number;
  filter?: SearchFilter;
}

export type LocalSearch = (r: LocalSearchRequest, signal?: AbortSignal) => Promise<{ vector: Float32Array; hits: ChunkHit[] }>;

export class Retriever {
  constructor(
    private readonly store: Store,
    private readonly embeddings: EmbeddingCache,
    /** Each KB's embedder: its tenant's own provider's or the server's. */
    private readonly embedders: EmbedderResolver,
    /** The search pool's one-task search of a local index (the hash embedder's vector computed there). */
    private readonly local: LocalSearch | null = null,
    /** RRF weight of the vector ranking in hybrid mode (BM25's is 1); null = by embedder (see query-options). */
    private readonly hybridVectorWeight: number | null = null,
  ) {}

  async retrieve(input: RetrieveInput): Promise<RetrieveOutput> {
    const { scope, kb, query, mode, filter } = input;
    // A store without vector search (PostgreSQL without pgvector): vector mode cannot be
    // answered at all; hybrid is answered by full text alone, and says so.
    const vectors = this.store.vectorSearch;
    if (vectors?.available === false && mode !== 'lexical') {
      const reason = vectors.reason ?? 'this store has no vector index';
      if (mode === 'vector') throw vectorSearchUnavailable(reason);
      const hits = await this.store.searchLexical(scope, query, input.depth, filter, input.signal);
      const rankings = input.explain ? { rankings: { lexical: hits, vector: null, fused: null } } : {};
      return { hits, ...rankings, notice: notices(input.lang ?? DEFAULT_LANG).vectorSkipped({ kind: 'no_vector_index', detail: reason }) };
    }
    // The question is embedded with the KB's own embedder. When its tenant can no longer reach
    // that one, another embedder's vectors cannot be compared with the KB's: vector search
    // refuses; hybrid degrades to lexical and says so.
    const embedder =
      mode === 'vector' ? await requireKbEmbedder(this.embedders, kb) : mode === 'hybrid' ? await this.embedders.forKb(kb.tenantId, kb) : null;
    if (!embedder) {
      const hits = await this.store.searchLexical(scope, query, input.depth, filter, input.signal);
      const rankings = input.explain ? { rankings: { lexical: hits, vector: null, fused: null } } : {};
      return mode === 'hybrid'
        ? { hits, ...rankings, notice: notices(input.lang ?? DEFAULT_LANG).vectorSkipped({ kind: 'embedder_unreachable', embedder: kb.embedder }) }
        : { hits, ...rankings };
    }
    const hashed = embedder.id.startsWith('hash:');
    const weight = this.hybridVectorWeight ?? (hashed ? HASH_VECTOR_WEIGHT : 1);
    const fetch = mode === 'hybrid' ? Math.max(input.depth, fetchDepth(input.depth)) : input.depth;
    if (input.explain) return this.explained(input, embedder, fetch, weight);
    if (this.local) return { hits: await this.viaLocal(input, embedder, hashed, fetch, weight) };
    if (mode === 'vector') return { hits: await this.vector(input, embedder, input.depth) };
    // Hybrid with a remote embedder: BM25 runs while the question is being embedded.
    const [lexical, vector] = await Promise.all([
      this.store.searchLexical(scope, query, fetch, filter, input.signal),
      this.vector(input, embedder, fetch),
    ]);
    return { hits: fuseRrf([lexical, vector], [1, weight]).slice(0, input.depth) };
  }

  /**
   * The same searches and fusion as the fast paths, run step by step on this side of the search
   * pool so that every ranking can be reported: one question at a time from the retrieval lab, so
   * the extra round trips do not matter there.
   */
  private async explained(input: RetrieveInput, embedder: Embedder, fetch: number, weight: number): Promise<RetrieveOutput> {
    const { scope, query, mode, filter } = input;
    const [lexical, vector] = await Promise.all([
      mode === 'vector' ? null : this.store.searchLexical(scope, query, fetch, filter),
      mode === 'lexical' ? null : this.vector(input, embedder, fetch),
    ]);
    const fused = lexical && vector ? fuseRrf([lexical, vector], [1, weight]) : null;
    const final = fused ?? lexical ?? vector ?? [];
    return { hits: final.slice(0, input.depth), rankings: { lexical, vector, fused } };
  }

  /**
   * A local index answers vector and hybrid in one search-pool task. The hash embedder's vector
   * is computed there; a remote embedder's is fetched first, so BM25 no longer overlaps that
   * HTTP call, but a burst of questions then costs one task and one hydration each instead of
   * two, and on a small machine a burst queues for CPU, not for the network (bench:query (r):
   * 100 at once ÷ one went from 1.51 to 1.36–1.38).
   */
  private async viaLocal(input: RetrieveInput, embedder: Embedder, hashed: boolean, fetch: number, vectorWeight: number): Promise<ChunkHit[]> {
    const cached = hashed
      ? this.embeddings.peek(embedder, input.query)
      : await this.embeddings.embed(embedder, input.query, input.signal, input.requestId);
    const { vector, hits } = await this.local!({
      scope: input.scope,
      dim: input.kb.embedDim,
      text: normalizeQuery(input.query),
      ...(cached ? { vector: cached } : {}),
      ...(input.mode === 'hybrid' ? { lexicalQuery: input.query } : {}),
      fetch,
      vectorWeight,
      depth: input.depth,
      ...(input.filter ? { filter: input.filter } : {}),
    }, input.signal);
    if (!cached) this.embeddings.remember(embedder, input.query, vector);
    return hits;
  }

  private async vector(input: RetrieveInput, embedder: Embedder, depth: number): Promise<ChunkHit[]> {
    const vector = await this.embeddings.embed(embedder, input.query, input.signal, input.requestId);
    return this.store.searchVector(input.scope, vector, depth, input.filter, input.signal);
  }
}
