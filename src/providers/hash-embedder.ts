import type { Embedder } from '../ports/models.js';
import type { IngestPool } from '../workers/ingest-pool.js';

/**
 * The default embedder: feature hashing in the worker pool, no network, deterministic. Its id
 * carries the dimension, so a KB built with one dimension refuses another.
 */
export class HashEmbedder implements Embedder {
  readonly id: string;

  constructor(
    private readonly pool: IngestPool,
    readonly dim: number,
  ) {
    this.id = `hash:${dim}`;
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    return Promise.all(texts.map((t) => this.pool.embedQuery(t, this.dim)));
  }
}
