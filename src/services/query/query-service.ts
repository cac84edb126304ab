import { EventEmitter } from 'node:events';
import type { Scope } from '../../domain/types.js';
import { withSpan } from '../../observability/tracing.js';
import type { ChunkHit, KbRecord } from '../../ports/store.js';
import type { KbService } from '../kb-service.js';
import { type AnswerCache, answerKey, historyKey, type PackedAnswer } from './answer-cache.js';
import { cachedResult, withPacked } from './cached-result.js';
import type { AnswerStep } from './answer-step.js';
import type { RerankStep } from './rerank-step.js';
import { rerankCandidates } from './rerank-step.js';
import type { Rankings, Retriever } from './retrieval.js';
import { notices } from '../../domain/messages.js';
import { type Lang, questionLanguage } from '../../text/language.js';
import type { Citation, ExplainedHit, QueryHooks, QueryRequest, QueryResult, RankedAt, RerankInfo, Timings } from './types.js';

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

function pendingNotice(pending: number, lang: Lang): string | undefined {
  return pending === 0 ? undefined : notices(lang).pending(pending);
}

const toCitation = (h: ChunkHit): Citation => ({
  document_id: h.documentId,
  document_name: h.documentName,
  chunk_id: h.chunkId,
  text: h.text,
  score: h.score,
  page: h.page,
  ...(h.ocrConfidence != null ? { ocr_confidence: h.ocrConfidence } : {}),
});

/** Each citation's rank and score in every ranking the query ran (`reranked`: the reranker's order, when it ran). */
function explainHits(citations: Citation[], rankings: Rankings, reranked: ChunkHit[] | null): ExplainedHit[] {
  const index = (list: ChunkHit[] | null) => {
    const at = new Map<string, RankedAt>();
    list?.forEach((h, i) => at.set(h.chunkId, { rank: i + 1, score: h.score }));
    return (id: string) => (list ? (at.get(id) ?? null) : null);
  };
  const [lexical, vector, fused, rerank] = [rankings.lexical, rankings.vector, rankings.fused, reranked].map(index) as ((id: string) => RankedAt | null)[];
  return citations.map((c) => ({
    chunk_id: c.chunk_id, lexical: lexical!(c.chunk_id), vector: vector!(c.chunk_id), fused: fused!(c.chunk_id), rerank: rerank!(c.chunk_id),
  }));
}

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
    // Earlier turns matter only to a model: they rewrite the question and go into its prompt.
    const history = req.history && req.history.length > 0 && providers.answer.kind === 'llm' ? req.history : undefined;
    const lang = req.lang ?? questionLanguage(req.query);
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
      ...(history ? { history: historyKey(history) } : {}),
      lang,
    });

    // An explained query is a lab run: it must show the searches, so it neither reads nor fills the cache.
    const hit = req.explain ? undefined : this.deps.cache.get(key);
    if (hit) return this.fromCache(hit, pending, lang, started, hooks);
    // Read only past the cache: a hit never needs it, and a caller may create it lazily.
    const { signal } = hooks;

    const t0 = performance.now();
    // A follow-up is searched for (and answered) as the standalone question it stands for.
    const question = history
      ? await withSpan('query rewrite', {}, () => providers.answer.rewrite(req.query, history, signal, hooks.requestId))
      : req.query;
    signal?.throwIfAborted();
    const depth = providers.rerank ? rerankCandidates(req.topK) : req.topK;
    const retrieved = await withSpan('query retrieve', { attributes: { 'ragd.query.depth': depth } }, () =>
      this.deps.retriever.retrieve({
        scope,
        kb,
        query: question,
        mode: req.mode,
        depth,
        ...(req.filter ? { filter: req.filter } : {}),
        ...(signal ? { signal } : {}),
        ...(hooks.requestId ? { requestId: hooks.requestId } : {}),
        lang,
        ...(req.explain ? { explain: true } : {}),
      }),
    );
    signal?.throwIfAborted();
    const retrieveMs = ms(t0);

    const t1 = performance.now();
    let hits = retrieved.hits;
    let rerank: RerankInfo | undefined;
    const reranker = providers.rerank;
    if (reranker) {
      const r = await withSpan('query rerank', {}, () => reranker.run(question, hits, req.topK, signal, hooks.requestId));
      hits = r.hits;
      rerank = r.info;
    }
    const rerankMs = providers.rerank ? ms(t1) : 0;
    const citations = hits.slice(0, req.topK).map(toCitation);

    let notice = joinNotices(pendingNotice(pending, lang), retrieved.notice);
    hooks.onContext?.({ citations, pending_documents: pending, ...(notice ? { notice } : {}), ...(rerank ? { rerank } : {}), cached: false });

    const t2 = performance.now();
    let answer: string | null = null;
    let answerKind: QueryResult['answer_kind'] = null;
    let degraded = rerank?.applied === false;
    let uncacheable = false;
    if (!req.onlyContext) {
      const outcome = await withSpan('query generate', {}, () =>
        providers.answer.answer(question, citations, signal, hooks.onToken, hooks.requestId, history, lang),
      );
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
      !degraded && !uncacheable && !signal?.aborted && !req.explain
        ? this.deps.cache.set(key, { ...result, ...(retrieved.notice ? { retrievalNotice: retrieved.notice } : {}) })
        : undefined;
    return withPacked(
      {
        ...result,
        pending_documents: pending,
        ...(notice ? { notice } : {}),
        cached: false,
        timings_ms: { retrieve: retrieveMs, rerank: rerankMs, generate: generateMs, total: ms(started) },
        ...(retrieved.rankings ? { explain: explainHits(citations, retrieved.rankings, rerank?.applied ? hits : null) } : {}),
      },
      packed,
    );
  }

  private fromCache(hit: PackedAnswer, pending: number, lang: Lang, started: number, hooks: QueryHooks): QueryResult {
    const notice = joinNotices(pendingNotice(pending, lang), hit.retrievalNotice);
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
