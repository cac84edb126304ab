/**
 * Which vector space a knowledge base lives in. A KB records the id and dimension of the embedder
 * it was built with; vectors from embedders with different ids are never compared or mixed.
 */

/** The recorded side of a KB: enough to name its vector space. */
export interface EmbedderSpace {
  embedder: string;
  embedDim: number;
}

/**
 * The id of an OpenAI-compatible embedder: endpoint, model and dimension together, since the
 * same model name behind another server, or shortened to another dimension, is another space.
 * The API key is not part of it: it changes who pays, not the vectors.
 */
export function remoteEmbedderId(p: { baseUrl: string; model: string; dim: number }): string {
  return `openai:${p.baseUrl.replace(/\/+$/, '')}#${p.model}:${p.dim}`;
}

/** Why a KB cannot be embedded into (or searched by vector) with the embedders its tenant can reach. */
export function embedderMismatchMessage(kb: EmbedderSpace & { id: string }, currentId: string): string {
  return (
    `knowledge base "${kb.id}" was built with embedder ${kb.embedder} (dimension ${kb.embedDim}), ` +
    `which is no longer available to this tenant (it now embeds with ${currentId}); ` +
    'create a new knowledge base for the new embedder, or restore the embedding settings'
  );
}
