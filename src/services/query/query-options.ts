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
  /** Threads of the search pool (FTS5 / vec0 queries and extractive answering). */
  searchThreads: number;
  /** Query jobs (POST /retrieve) run at once in this process; more wait in memory. */
  retrieveConcurrency: number;
  retrieveMaxQueued: number;
  /** Token budget of the sources in an LLM prompt. */
  promptTokens: number;
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
    searchThreads: int(env, 'SEARCH_THREADS', 2, 1),
    retrieveConcurrency: int(env, 'RETRIEVE_CONCURRENCY', 8, 1),
    retrieveMaxQueued: int(env, 'RETRIEVE_MAX_QUEUED', 10_000, 1),
    promptTokens: int(env, 'PROMPT_TOKENS', 8_000, 256),
  };
}
