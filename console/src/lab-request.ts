export const MODES = ['lexical', 'vector', 'hybrid'] as const;
export type Mode = (typeof MODES)[number];

/** The body of one lab run: context only, with every ranking explained. */
export function labRequest(query: string, mode: Mode, topK: number, docIds: string, metadata: string): Record<string, unknown> {
  const filter: Record<string, unknown> = {};
  const ids = docIds.split(/[,\s]+/).filter(Boolean);
  if (ids.length > 0) filter.document_ids = ids;
  if (metadata.trim()) {
    const parsed = JSON.parse(metadata) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SyntaxError('metadata');
    filter.metadata = parsed;
  }
  return { query, mode, top_k: topK, only_context: true, explain: true, ...(Object.keys(filter).length ? { filter } : {}) };
}

