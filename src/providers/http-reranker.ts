import type { Priority, Reranker } from '../ports/models.js';
import { type ProviderLane, UpstreamHttpError } from './lane.js';

/**
 * Reranking over HTTP: POST {baseURL}/rerank. Understands the two response shapes in the wild —
 * Cohere/Jina `{ results: [{ index, relevance_score }] }` and Hugging Face TEI `[{ index, score }]`.
 */

export interface HttpRerankerOptions {
  /** e.g. https://api.cohere.com/v1, https://api.jina.ai/v1, or a TEI server's root. */
  baseURL: string;
  apiKey?: string;
  model: string;
  lane: ProviderLane;
  /**
   * Request body: 'cohere' (default) sends `{ model, query, documents, top_n }`, which Cohere, Jina
   * and vLLM accept; 'tei' sends TEI's `{ query, texts }`.
   */
  requestShape?: 'cohere' | 'tei';
  /** The fetch to call with (a tenant's provider: the egress policy's); default the global one. */
  fetch?: typeof fetch;
  /** Rerank runs while a user waits, so it defaults to interactive. */
  priority?: Priority;
}

export interface RerankHit {
  index: number;
  score: number;
}

/** Reads either response shape; throws on anything else, or on indices outside the documents. */
export function parseRerankResponse(body: unknown, documentCount: number): RerankHit[] {
  const items: unknown = Array.isArray(body) ? body : (body as { results?: unknown } | null)?.results;
  if (!Array.isArray(items)) throw new Error('rerank: unexpected response (neither {results:[...]} nor [...])');
  return items.map((item: unknown) => {
    const { index, relevance_score, score } = (item ?? {}) as { index?: unknown; relevance_score?: unknown; score?: unknown };
    const s = relevance_score ?? score;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= documentCount) {
      throw new Error(`rerank: response has an invalid document index ${String(index)}`);
    }
    if (typeof s !== 'number' || !Number.isFinite(s)) throw new Error(`rerank: response has an invalid score for index ${index}`);
    return { index, score: s };
  });
}

export class HttpReranker implements Reranker {
  private readonly url: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly opts: HttpRerankerOptions) {
    this.url = `${opts.baseURL.replace(/\/+$/, '')}/rerank`;
    this.headers = {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
    };
  }

  async rerank(query: string, documents: string[], opts: { topN: number; signal?: AbortSignal; requestId?: string }): Promise<RerankHit[]> {
    if (documents.length === 0 || opts.topN <= 0) return [];
    const topN = Math.min(opts.topN, documents.length);
    const body =
      this.opts.requestShape === 'tei'
        ? { query, texts: documents, truncate: true }
        : { model: this.opts.model, query, documents, top_n: topN };

    const payload = await this.opts.lane.run(
      async (signal) => {
        const res = await (this.opts.fetch ?? fetch)(this.url, { method: 'POST', headers: this.headers, body: JSON.stringify(body), signal });
        if (!res.ok) {
          // Read the body (it usually says why) and so release the connection.
          const detail = (await res.text().catch(() => '')).slice(0, 500);
          throw new UpstreamHttpError(res.status, `rerank answered ${res.status}${detail ? `: ${detail}` : ''}`, res.headers);
        }
        return (await res.json()) as unknown;
      },
      { priority: this.opts.priority ?? 'interactive', signal: opts.signal, ...(opts.requestId ? { requestId: opts.requestId } : {}) },
    );

    // TEI returns every document and ignores top_n, and no server promises the order: sort and cut here.
    return parseRerankResponse(payload, documents.length)
      .sort((a, b) => b.score - a.score || a.index - b.index)
      .slice(0, topN);
  }
}
