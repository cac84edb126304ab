/**
 * A small LRU map with a time-to-live and two bounds: entry count and total size (as measured by
 * `sizeOf`). A Map keeps insertion order, so re-inserting on every hit makes its first key the
 * least recently used one; eviction is O(1) per entry.
 */
export interface LruOptions<V> {
  maxEntries: number;
  /** Upper bound on the sum of `sizeOf(value)` over the cache. */
  maxSize: number;
  ttlMs: number;
  sizeOf: (value: V) => number;
  /** Injected clock, for tests. */
  now?: () => number;
}

interface Entry<V> {
  value: V;
  size: number;
  expiresAt: number;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
}

export class LruCache<V> {
  private readonly map = new Map<string, Entry<V>>();
  private size = 0;
  private readonly now: () => number;
  /** Lookups that found a live entry / found none (or an expired one), since creation: for metrics. */
  hits = 0;
  misses = 0;

  constructor(private readonly opts: LruOptions<V>) {
    this.now = opts.now ?? Date.now;
  }

  get(key: string): V | undefined {
    const entry = this.map.get(key);
    if (!entry) {
      this.misses++;
      return undefined;
    }
    if (entry.expiresAt <= this.now()) {
      this.remove(key, entry);
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Move to the most recently used end.
    this.map.delete(key);
    this.map.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V): void {
    const size = this.opts.sizeOf(value);
    const old = this.map.get(key);
    if (old) this.remove(key, old);
    // A value larger than the whole budget would evict everything and still not fit.
    if (size > this.opts.maxSize || this.opts.maxEntries <= 0) return;
    this.map.set(key, { value, size, expiresAt: this.now() + this.opts.ttlMs });
    this.size += size;
    for (const [k, e] of this.map) {
      if (this.map.size <= this.opts.maxEntries && this.size <= this.opts.maxSize) break;
      this.remove(k, e);
    }
  }

  delete(key: string): void {
    const entry = this.map.get(key);
    if (entry) this.remove(key, entry);
  }

  clear(): void {
    this.map.clear();
    this.size = 0;
  }

  stats(): CacheStats {
    return { entries: this.map.size, bytes: this.size, hits: this.hits, misses: this.misses };
  }

  get entries(): number {
    return this.map.size;
  }

  get totalSize(): number {
    return this.size;
  }

  private remove(key: string, entry: Entry<V>): void {
    this.map.delete(key);
    this.size -= entry.size;
  }
}
