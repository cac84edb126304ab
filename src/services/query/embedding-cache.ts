import type { Embedder } from '../../ports/models.js';
import { normalizeQuery } from './answer-cache.js';
import { type CacheStats, LruCache } from './lru.js';
import { DEFAULT_QUESTION_BATCHING, QuestionBatcher, type QuestionBatcherOptions } from './question-batcher.js';

export interface EmbeddingCacheOptions {
  maxEntries: number;
  /** Bound on the vectors' bytes; tenants' embedders may have larger dimensions than the server's. */
  maxBytes: number;
  ttlMs: number;
  /** How questions share embedding calls under load (see question-batcher.ts). */
  batching?: QuestionBatcherOptions;
}

/**
 * Query embeddings, cached by embedder id + normalised text: the same question asked again (or
 * with another top_k or mode) costs no embedding call, and two embedders (tenants with their own
 * providers) never share a vector. Concurrent misses for the same text share one call, and
 * concurrent misses for different texts share calls once several are on the wire. The text
 * embedded is the normalised one, so the cached vector is exactly the one its key describes.
 */
export class EmbeddingCache {
  private readonly lru: LruCache<Float32Array>;
  private readonly inFlight = new Map<string, Promise<Float32Array>>();
  private readonly batcher: QuestionBatcher;

  constructor(opts: EmbeddingCacheOptions) {
    this.lru = new LruCache<Float32Array>({
      maxEntries: opts.maxEntries,
      maxSize: opts.maxBytes,
      ttlMs: opts.ttlMs,
      sizeOf: (v) => v.byteLength,
    });
    this.batcher = new QuestionBatcher(opts.batching ?? DEFAULT_QUESTION_BATCHING);
  }

  stats(): CacheStats {
    return this.lru.stats();
  }

  private key(embedderId: string, normalized: string): string {
    return `${embedderId}\u0000${normalized}`;
  }

  /** The cached vector of `text` under that embedder, if any (no embedding call). */
  peek(embedder: Embedder, text: string): Float32Array | undefined {
    return this.lru.get(this.key(embedder.id, normalizeQuery(text)));
  }

  /** Stores a vector computed elsewhere (the search pool embeds and searches in one task). */
  remember(embedder: Embedder, text: string, vector: Float32Array): void {
    if (vector.length === embedder.dim) this.lru.set(this.key(embedder.id, normalizeQuery(text)), vector);
  }

  /** `requestId` names the asking request in the provider's log lines (the first asker's, when shared). */
  async embed(embedder: Embedder, text: string, signal?: AbortSignal, requestId?: string): Promise<Float32Array> {
    const normalized = normalizeQuery(text);
    const key = this.key(embedder.id, normalized);
    const hit = this.lru.get(key);
    if (hit) return hit;
    let pending = this.inFlight.get(key);
    if (!pending) {
      // The shared call is not tied to one caller's signal: another caller may still want it.
      pending = this.batcher
        .embed(embedder, normalized, requestId)
        .then((v) => {
          if (!v || v.length !== embedder.dim) {
            throw new Error(`embedder ${embedder.id} returned ${v?.length ?? 0} dimensions, expected ${embedder.dim}`);
          }
          this.lru.set(key, v);
          return v;
        })
        .finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return signal ? raceAbort(pending, signal) : pending;
  }
}

/** Settles with `p`, or rejects as soon as `signal` aborts (the work itself goes on for others). */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e: unknown) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}
