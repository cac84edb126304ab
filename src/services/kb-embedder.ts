import { AppError } from '../domain/errors.js';
import { embedderMismatchMessage } from '../domain/embedder-space.js';
import type { Embedder, EmbedderResolver } from '../ports/models.js';
import type { KbRecord } from '../ports/store.js';

/**
 * The embedder of the KB's vector space, or `409 embedder_mismatch` when its tenant can no longer
 * reach it (the tenant's embedding settings changed, or the server's did): embedding with any other
 * embedder would put vectors of another space into the KB.
 */
export async function requireKbEmbedder(embedders: EmbedderResolver, kb: KbRecord): Promise<Embedder> {
  const embedder = await embedders.forKb(kb.tenantId, kb);
  if (embedder) return embedder;
  const current = await embedders.forTenant(kb.tenantId);
  throw new AppError(409, 'embedder_mismatch', embedderMismatchMessage(kb, current.id));
}
