import { AppError } from '../domain/errors.js';
import { embedderMismatchMessage } from '../domain/embedder-space.js';
import type { Embedder, EmbedderResolver } from '../ports/models.js';
import type { KbRecord } from '../ports/store.js';

/**
 * The KB's tenant can no longer reach the embedder the KB was built with (the tenant's embedding
 * settings changed, or the server's). A `409` to a client; to the pipeline a permanent failure,
 * since retrying cannot bring the embedder back and any other one would mix vector spaces.
 */
export class EmbedderMismatchError extends AppError {
  readonly permanent = true;
  constructor(message: string) {
    super(409, 'embedder_mismatch', message);
    this.name = 'EmbedderMismatchError';
  }
}

/** The embedder of the KB's vector space, or EmbedderMismatchError. */
export async function requireKbEmbedder(embedders: EmbedderResolver, kb: KbRecord): Promise<Embedder> {
  const embedder = await embedders.forKb(kb.tenantId, kb);
  if (embedder) return embedder;
  const current = await embedders.forTenant(kb.tenantId);
  throw new EmbedderMismatchError(embedderMismatchMessage(kb, current.id));
}
