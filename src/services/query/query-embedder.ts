import type { Embedder } from '../../ports/models.js';

/** Where a question's local hash embedding is computed (the search pool). */
export interface HashRunner {
  embedHash(text: string, dim: number): Promise<Float32Array>;
}

/**
 * The embedder questions go through. A remote embedder is used as is (its lane already puts
 * questions ahead of ingestion). The local hash embedder's work is moved to the query path's own
 * worker pool: in the ingest pool a question would wait behind whole documents being parsed and
 * embedded — the "upload stalls everyone's questions" failure. Same function, same id, so the
 * vectors match the ones ingestion stored.
 */
export function queryEmbedder(embedder: Embedder, runner: HashRunner): Embedder {
  if (!embedder.id.startsWith('hash:')) return embedder;
  return {
    id: embedder.id,
    dim: embedder.dim,
    embed: (texts) => Promise.all(texts.map((t) => runner.embedHash(t, embedder.dim))),
  };
}
