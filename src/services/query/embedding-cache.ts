import type { Embedder } from '../../ports/models.js';
import { normalizeQuery } from './answer-cache.js';
import { type CacheStats, LruCache } from './lru.js';

export interface EmbeddingCacheOptions {
  maxEntries: number;
  ttlMs: number;
}

/**
 * Query embeddings, cached by embedder id + normalised text: the same question asked again (or
 * with another top_k or mode) costs no embedding call. Concurrent misses for the same text share
 * one call. The text embedded is the normalised one, so the cached vector is exactly the one
 * its key describes.
 */
export class EmbeddingCache {
  private readonly lru: LruCache<Float32Array>;
  private readonly inFlight = new Map<string, Promise<Float32Array>>();

  constructor(
    private readonly embedder: Embedder,
    opts: EmbeddingCacheOptions,
  ) {
    this.lru = new LruCache<Float32Array>({
      maxEntries: opts.maxEntries,
      maxSize: opts.maxEntries * embedder.dim * 4,
      ttlMs: opts.ttlMs,
      sizeOf: (v) => v.byteLength,
    });
  }

  stats(): CacheStats {
    return this.lru.stats();
  }

  get embedderId(): string {
    return this.embedder.id;
  }

  private key(normalized: string): string {
    return `${this.embedder.id}\u0000${normalized}`;
  }

  /** The cached vector of `text`, if any (no embedding call). */
  peek(text: string): Float32Array | undefined {
    return this.lru.get(this.key(normalizeQuery(text)));
  }

  /** Stores a vector computed elsewhere (the search pool embeds and searches in one task). */
  remember(text: string, vector: Float32Array): void {
    if (vector.length === this.embedder.dim) this.lru.set(this.key(normalizeQuery(text)), vector);
  }

  async embed(text: string, signal?: AbortSignal): Promise<Float32Array> {
    const normalized = normalizeQuery(text);
    const key = this.key(normalized);
    const hit = this.lru.get(key);
    if (hit) return hit;
    let pending = this.inFlight.get(key);
    if (!pending) {
      // The shared call is not tied to one caller's signal: another caller may still want it.
      pending = this.embedder
        .embed([normalized], { priority: 'interactive' })
        .then(([v]) => {
          if (!v || v.length !== this.embedder.dim) {
            throw new Error(`embedder ${this.embedder.id} returned ${v?.length ?? 0} dimensions, expected ${this.embedder.dim}`);
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
