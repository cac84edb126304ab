import { EventEmitter } from 'node:events';
import type { Scope } from '../../domain/types.js';
import { withSpan } from '../../observability/tracing.js';
import type { ChunkHit, KbRecord } from '../../ports/store.js';
import type { KbService } from '../kb-service.js';
import { type AnswerCache, answerKey, type PackedAnswer } from './answer-cache.js';
import { cachedResult, withPacked } from './cached-result.js';
import type { AnswerStep } from './answer-step.js';
import type { RerankStep } from './rerank-step.js';
import { rerankCandidates } from './rerank-step.js';
import type { Retriever } from './retrieval.js';
import type { Citation, QueryHooks, QueryRequest, QueryResult, RerankInfo, Timings } from './types.js';

/** The model-backed steps of a query; a tenant with its own providers gets its own. */
export interface QueryProviders {
  /** Null when no reranker is configured. */
  rerank: RerankStep | null;
  /** Identifies the reranker in cache keys (its model), or null. */
  rerankerId: string | null;
  answer: AnswerStep;
  /** Identifies the answerer in cache keys, e.g. 'llm:gpt-4o-mini' or 'extractive'. */
  answererId: string;
}

export interface QueryServiceDeps extends QueryProviders {
  kbs: KbService;
  retriever: Retriever;
  cache: AnswerCache;
  /** The tenant's own providers (each falling back to the server's); absent = the server's for all. */
  providersFor?: (tenantId: string) => Promise<QueryProviders>;
}

/** Events for metrics: every answered query with its phase timings. */
export interface QueryEvents {
  answered: [info: { cached: boolean; timings: Timings }];
}

const ms = (from: number) => Math.round((performance.now() - from) * 10) / 10;

function pendingNotice(pending: number): string | undefined {
  if (pending === 0) return undefined;
  return pending === 1
    ? '1 document of this knowledge base is still being indexed and is not searchable yet; results may be incomplete.'
    : `${pending} documents of this knowledge base are still being indexed and are not searchable yet; results may be incomplete.`;
}

const toCitation = (h: ChunkHit): Citation => ({
  document_id: h.documentId,
  document_name: h.documentName,
  chunk_id: h.chunkId,
  text: h.text,
  score: h.score,
  page: h.page,
});

const joinNotices = (...n: (string | undefined)[]) => n.filter(Boolean).join(' ') || undefined;

/**
 * Answers a question about a knowledge base: answer cache → retrieve → optional rerank →
 * answer, timing each phase. The event loop only orchestrates: searches run in the search pool,
 * embeddings and generation are network calls in provider lanes (or worker-pool work).
 */
export class QueryService {
  readonly events = new EventEmitter<QueryEvents>();

  constructor(private readonly deps: QueryServiceDeps) {}

  /** Throws 404 for an unknown KB: lets a streaming route fail with JSON before it opens SSE. */
  async assertKb(scope: Scope): Promise<KbRecord> {
    return this.deps.kbs.get(scope);
  }

  async run(scope: Scope, req: QueryRequest, hooks: QueryHooks = {}): Promise<QueryResult> {
    const result = await withSpan('query', { attributes: { 'ragd.query.mode': req.mode, 'ragd.query.top_k': req.topK } }, async (span) => {
      const r = await this.answerQuery(scope, req, hooks);
      span?.setAttribute('ragd.query.cached', r.cached);
      return r;
    });
    this.events.emit('answered', { cached: result.cached, timings: result.timings_ms });
    return result;
  }

  private async answerQuery(scope: Scope, req: QueryRequest, hooks: QueryHooks): Promise<QueryResult> {
    const started = performance.now();
    // The KB's version (in the cache key) and its pending count, from one state of the store.
    const { kb, pending } = await this.deps.kbs.state(scope);
    const providers = this.deps.providersFor ? await this.deps.providersFor(scope.tenantId) : this.deps;
    const key = answerKey({
      tenantId: scope.tenantId,
      kbId: scope.kbId,
      kbVersion: kb.version,
      kbCreatedAt: kb.createdAt,
      embedder: kb.embedder,
      query: req.query,
      mode: req.mode,
      topK: req.topK,
      onlyContext: req.onlyContext,
      ...(req.filter ? { filter: req.filter } : {}),
      answerer: req.onlyContext ? 'none' : providers.answererId,
      reranker: providers.rerankerId,
    });

    const hit = this.deps.cache.get(key);
    if (hit) return this.fromCache(hit, pending, started, hooks);
    // Read only past the cache: a hit never needs it, and a caller may create it lazily.
    const { signal } = hooks;

    const t0 = performance.now();
    const depth = providers.rerank ? rerankCandidates(req.topK) : req.topK;
    const retrieved = await withSpan('query retrieve', { attributes: { 'ragd.query.depth': depth } }, () =>
      this.deps.retriever.retrieve({
        scope,
        kb,
        query: req.query,
        mode: req.mode,
        depth,
        ...(req.filter ? { filter: req.filter } : {}),
        ...(signal ? { signal } : {}),
        ...(hooks.requestId ? { requestId: hooks.requestId } : {}),
      }),
    );
    signal?.throwIfAborted();
    const retrieveMs = ms(t0);

    const t1 = performance.now();
    let hits = retrieved.hits;
    let rerank: RerankInfo | undefined;
    const reranker = providers.rerank;
    if (reranker) {
      const r = await withSpan('query rerank', {}, () => reranker.run(req.query, hits, req.topK, signal, hooks.requestId));
      hits = r.hits;
      rerank = r.info;
    }
    const rerankMs = providers.rerank ? ms(t1) : 0;
    const citations = hits.slice(0, req.topK).map(toCitation);

    let notice = joinNotices(pendingNotice(pending), retrieved.notice);
    hooks.onContext?.({ citations, pending_documents: pending, ...(notice ? { notice } : {}), ...(rerank ? { rerank } : {}), cached: false });

    const t2 = performance.now();
    let answer: string | null = null;
    let answerKind: QueryResult['answer_kind'] = null;
    let degraded = rerank?.applied === false;
    let uncacheable = false;
    if (!req.onlyContext) {
      const outcome = await withSpan('query generate', {}, () => providers.answer.answer(req.query, citations, signal, hooks.onToken, hooks.requestId));
      answer = outcome.text;
      answerKind = outcome.kind;
      if (outcome.incomplete) uncacheable = true;
      if (outcome.fallbackNotice) {
        degraded = true;
        notice = joinNotices(notice, outcome.fallbackNotice);
      }
    }
    const generateMs = req.onlyContext ? 0 : ms(t2);

    const result = { answer, answer_kind: answerKind, citations, ...(rerank ? { rerank } : {}) };
    // A fallback answer is a stopgap: the next asker should get the real one once it is possible.
    const packed =
      !degraded && !uncacheable && !signal?.aborted
        ? this.deps.cache.set(key, { ...result, ...(retrieved.notice ? { retrievalNotice: retrieved.notice } : {}) })
        : undefined;
    return withPacked(
      {
        ...result,
        pending_documents: pending,
        ...(notice ? { notice } : {}),
        cached: false,
        timings_ms: { retrieve: retrieveMs, rerank: rerankMs, generate: generateMs, total: ms(started) },
      },
      packed,
    );
  }

  private fromCache(hit: PackedAnswer, pending: number, started: number, hooks: QueryHooks): QueryResult {
    const notice = joinNotices(pendingNotice(pending), hit.retrievalNotice);
    const result = cachedResult(hit, {
      pending_documents: pending,
      ...(notice ? { notice } : {}),
      timings_ms: { retrieve: 0, rerank: 0, generate: 0, total: 0 },
    });
    // Only a streamed answer has a context hook; a plain JSON hit never decodes the citations.
    hooks.onContext?.({
      citations: result.citations,
      pending_documents: pending,
      ...(notice ? { notice } : {}),
      ...(hit.rerank ? { rerank: hit.rerank } : {}),
      cached: true,
    });
    if (hit.answer !== null) hooks.onToken?.(hit.answer);
    result.timings_ms.total = ms(started);
    return result;
  }
}
