import { DEFAULT_QUESTION_BATCHING } from './question-batcher.js';

/**
 * Query-path settings that config.ts does not carry (yet). Read from the same RAGD_* environment,
 * with defaults that need nothing external.
 */
export interface QueryOptions {
  /** What to do when the LLM is down or times out: fail with 503, or answer extractively. */
  llmFallback: 'none' | 'extractive';
  /** Budget for the whole rerank step, retries included; past it the fused order is kept. */
  rerankTimeoutMs: number;
  rerankRequestShape: 'cohere' | 'tei';
  /** How long an open LLM breaker waits before letting one probe through. */
  llmBreakerResetMs: number;
  /** Calls the breaker's window must hold before it may open. */
  llmBreakerVolume: number;
  llmBackoffBaseMs: number;
  cacheMaxEntries: number;
  cacheMaxBytes: number;
  cacheTtlMs: number;
  embeddingCacheEntries: number;
  /**
   * Embedding calls for questions on the wire at once per embedder; questions arriving beyond
   * them share the next calls (see question-batcher.ts).
   */
  questionEmbedCalls: number;
  /** Threads of the search pool (FTS5 / vec0 queries and extractive answering). */
  searchThreads: number;
  /** Query jobs (POST /retrieve) run at once in this process; more wait in memory. */
  retrieveConcurrency: number;
  retrieveMaxQueued: number;
  /** Token budget of the sources in an LLM prompt. */
  promptTokens: number;
  /**
   * RRF weight of the vector ranking in hybrid mode (BM25's is 1); null = by embedder: a model
   * embedder is an equal partner (1), the local hash embedder a weak one (HASH_VECTOR_WEIGHT).
   */
  hybridVectorWeight: number | null;
}

/**
 * The hash embedder's hybrid weight, tuned on SciFact's train split (eval/beir.ts scifact --split
 * train: 1 → nDCG@10 0.62, 0.3 → 0.65, 0.1 → 0.68 with the best recall@10, 0.81; BM25 alone 0.70).
 * At 1 the hash vectors' noisy neighbours drag BM25's ranking down; a model embedder gets 1.
 */
export const HASH_VECTOR_WEIGHT = 0.1;

function weight(env: Env, name: string): number | null {
  const raw = env[`RAGD_${name}`];
  if (raw === undefined || raw === '') return null;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`RAGD_${name} must be a number >= 0, got "${raw}"`);
  return n;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number): number {
  const raw = env[`RAGD_${name}`];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`RAGD_${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[`RAGD_${name}`];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new Error(`RAGD_${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

export function loadQueryOptions(env: Env = process.env): QueryOptions {
  return {
    llmFallback: oneOf(env, 'LLM_FALLBACK', ['none', 'extractive'] as const, 'none'),
    // config.ts reads the same variable as the rerank lane's per-attempt timeout (default 60 s);
    // a user waits on this step, so unset it defaults to a few seconds here.
    rerankTimeoutMs: int(env, 'RERANK_TIMEOUT_MS', 5_000, 1),
    rerankRequestShape: oneOf(env, 'RERANK_FORMAT', ['cohere', 'tei'] as const, 'cohere'),
    llmBreakerResetMs: int(env, 'LLM_BREAKER_RESET_MS', 30_000, 1),
    llmBreakerVolume: int(env, 'LLM_BREAKER_VOLUME', 5, 1),
    llmBackoffBaseMs: int(env, 'LLM_BACKOFF_MS', 250, 1),
    cacheMaxEntries: int(env, 'CACHE_MAX_ENTRIES', 10_000, 0),
    cacheMaxBytes: int(env, 'CACHE_MAX_MB', 64, 0) * 1024 * 1024,
    cacheTtlMs: int(env, 'CACHE_TTL_MS', 10 * 60_000, 1),
    embeddingCacheEntries: int(env, 'EMBED_CACHE_ENTRIES', 5_000, 0),
    questionEmbedCalls: int(env, 'QUESTION_EMBED_CALLS', DEFAULT_QUESTION_BATCHING.maxInFlight, 1),
    searchThreads: int(env, 'SEARCH_THREADS', 2, 1),
    retrieveConcurrency: int(env, 'RETRIEVE_CONCURRENCY', 8, 1),
    retrieveMaxQueued: int(env, 'RETRIEVE_MAX_QUEUED', 10_000, 1),
    promptTokens: int(env, 'PROMPT_TOKENS', 8_000, 256),
    hybridVectorWeight: weight(env, 'HYBRID_VECTOR_WEIGHT'),
  };
}
