import type { Embedder } from '../ports/models.js';
import type { QueryProviders } from './query/query-service.js';

export type ProviderKind = 'llm' | 'embed' | 'rerank';
export const PROVIDER_KINDS: readonly ProviderKind[] = ['llm', 'embed', 'rerank'];

export interface ProviderCheckResult {
  kind: ProviderKind;
  /** False when the tenant (and the server) has none of this kind: nothing to call. */
  configured: boolean;
  ok: boolean;
  ms: number;
  /** Why it failed, in the provider's words. */
  message: string | null;
}

const PROBE = 'ping';

/**
 * "Test connection" for a tenant's model providers: one small real call through the same path its
 * queries and uploads take (its own settings, else the server's; the same lane limits), so a wrong
 * URL, model or key shows up here rather than in the first failed document.
 */
export class ProviderCheck {
  constructor(
    private readonly deps: {
      providersFor(tenantId: string): Promise<QueryProviders>;
      embedderFor(tenantId: string): Promise<Embedder>;
    },
  ) {}

  async check(tenantId: string, kind: ProviderKind, signal?: AbortSignal): Promise<ProviderCheckResult> {
    const started = performance.now();
    const done = (configured: boolean, message: string | null) => ({
      kind, configured, ok: message === null, ms: Math.round(performance.now() - started), message,
    });
    try {
      if (kind === 'embed') {
        const embedder = await this.deps.embedderFor(tenantId);
        if (embedder.id.startsWith('hash:')) return done(false, null);
        const [vector] = await embedder.embed([PROBE], { priority: 'interactive', ...(signal ? { signal } : {}) });
        return done(true, vector?.length === embedder.dim ? null : `expected ${embedder.dim} dimensions, got ${vector?.length ?? 0}`);
      }
      const providers = await this.deps.providersFor(tenantId);
      if (kind === 'llm') {
        if (providers.answererId === 'extractive') return done(false, null);
        const source = { document_id: PROBE, document_name: PROBE, chunk_id: PROBE, text: PROBE, score: 1, page: null };
        const outcome = await providers.answer.answer(PROBE, [source], signal);
        return done(true, outcome.fallbackNotice ?? null);
      }
      if (!providers.rerank) return done(false, null);
      const hit = (id: string) => ({ chunkId: id, documentId: id, documentName: id, ordinal: 0, text: `${PROBE} ${id}`, headingPath: [], page: null, score: 0 });
      const { info } = await providers.rerank.run(PROBE, [hit('a'), hit('b')], 1, signal);
      return done(true, info.applied ? null : (info.fallback_reason ?? 'the reranker did not answer'));
    } catch (err) {
      return done(true, err instanceof Error ? err.message : String(err));
    }
  }
}
