import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { ProviderConfig } from '../config/config.js';
import { memoized } from '../domain/weak-memo.js';
import { HttpReranker } from '../providers/http-reranker.js';
import type { SharedProviderCapFactory } from '../ports/limits.js';
import { ProviderLane } from '../providers/lane.js';
import { sharedCapOption } from '../providers/shared-slot.js';
import { OpenAIChatGenerator } from '../providers/openai-chat.js';
import { AnswerStep } from '../services/query/answer-step.js';
import type { ExtractiveAnswerer } from '../services/query/extractive-answerer.js';
import type { QueryOptions } from '../services/query/query-options.js';
import type { QueryProviders } from '../services/query/query-service.js';
import { RerankStep } from '../services/query/rerank-step.js';
import { egressOf } from '../providers/egress.js';
import type { OpenProvider } from '../services/tenant-service.js';

/**
 * The query path's model steps, each behind its own provider lane: the server's (from RAGD_LLM_* /
 * RAGD_RERANK_*) and, for tenants with their own provider settings, one lane per distinct
 * provider configuration, shared by every tenant that names the same one.
 */

export interface BuiltAnswer {
  step: AnswerStep;
  id: string;
  lane: ProviderLane | null;
}

export interface BuiltRerank {
  step: RerankStep;
  id: string;
  lane: ProviderLane;
}

export interface StepFactory {
  answer(cfg: ProviderConfig | null): BuiltAnswer;
  rerank(cfg: ProviderConfig): BuiltRerank;
}

export function stepFactory(options: QueryOptions, extractive: ExtractiveAnswerer, log: Logger, caps?: SharedProviderCapFactory): StepFactory {
  const answerOptions = { fallbackToExtractive: options.llmFallback === 'extractive', promptTokens: options.promptTokens };
  return {
    answer(cfg) {
      if (!cfg?.baseUrl) return { step: new AnswerStep(null, extractive, answerOptions, log), id: 'extractive', lane: null };
      const lane = new ProviderLane({
        ...sharedCapOption(caps, 'llm', cfg),
        name: 'llm',
        concurrency: cfg.concurrency,
        adaptive: cfg.adaptive,
        requestsPerMinute: cfg.requestsPerMinute,
        timeoutMs: cfg.timeoutMs,
        maxRetries: cfg.maxRetries,
        backoffBaseMs: options.llmBackoffBaseMs,
        breaker: { errorThresholdPercentage: 50, volumeThreshold: options.llmBreakerVolume, resetTimeoutMs: options.llmBreakerResetMs },
      });
      const llm = new OpenAIChatGenerator({ baseURL: cfg.baseUrl, apiKey: cfg.apiKey, model: cfg.model, lane, ...egressOf(cfg) });
      return { step: new AnswerStep(llm, extractive, answerOptions, log), id: `llm:${cfg.baseUrl}#${cfg.model}`, lane };
    },
    rerank(cfg) {
      const lane = new ProviderLane({
        ...sharedCapOption(caps, 'rerank', cfg),
        name: 'rerank',
        concurrency: cfg.concurrency,
        adaptive: cfg.adaptive,
        requestsPerMinute: cfg.requestsPerMinute,
        timeoutMs: Math.min(cfg.timeoutMs, options.rerankTimeoutMs),
        maxRetries: cfg.maxRetries,
        backoffBaseMs: 100,
        breaker: { errorThresholdPercentage: 50, volumeThreshold: 5, resetTimeoutMs: 30_000 },
      });
      const reranker = new HttpReranker({
        baseURL: cfg.baseUrl!,
        apiKey: cfg.apiKey,
        model: cfg.model,
        lane,
        requestShape: options.rerankRequestShape,
        ...egressOf(cfg),
      });
      return { step: new RerankStep(reranker, { timeoutMs: options.rerankTimeoutMs }, log), id: `${cfg.baseUrl}#${cfg.model}`, lane };
    },
  };
}

type TenantProviderSource = (tenantId: string, kind: 'llm' | 'rerank') => Promise<OpenProvider | null>;

/**
 * tenantId → its query providers. A tenant without settings of a kind uses the server's; one
 * with settings gets the lane of that exact configuration (base URL, model, key), built on first
 * use and then cached, so tenants sharing a provider share its concurrency and breaker.
 */
export class TenantProviderRegistry {
  private readonly answers = new Map<string, BuiltAnswer>();
  private readonly reranks = new Map<string, BuiltRerank>();
  /**
   * The lane each opened provider maps to. The source hands out the same opened provider until the
   * tenant's settings are read again, so a query does not hash the provider's key every time.
   */
  private readonly answerOf = new WeakMap<OpenProvider, BuiltAnswer>();
  private readonly rerankOf = new WeakMap<OpenProvider, BuiltRerank>();

  constructor(
    private readonly factory: StepFactory,
    private readonly server: { llm: ProviderConfig; rerank: ProviderConfig },
    readonly defaults: { answer: BuiltAnswer; rerank: BuiltRerank | null },
    private readonly source: TenantProviderSource | null,
    /** RAGD_PROVIDER_ALLOW_PRIVATE, for the tenants' providers' egress policy. */
    private readonly allowPrivate = false,
  ) {}

  async forTenant(tenantId: string): Promise<QueryProviders> {
    const [llm, rerank] = this.source
      ? await Promise.all([this.source(tenantId, 'llm'), this.source(tenantId, 'rerank')])
      : [null, null];
    const answer = llm
      ? memoized(this.answerOf, llm, () => this.cached(this.answers, this.merge(this.server.llm, llm), (c) => this.factory.answer(c)))
      : this.defaults.answer;
    const reranked = rerank
      ? memoized(this.rerankOf, rerank, () => this.cached(this.reranks, this.merge(this.server.rerank, rerank), (c) => this.factory.rerank(c)))
      : this.defaults.rerank;
    return {
      answer: answer.step,
      answererId: answer.id,
      rerank: reranked?.step ?? null,
      rerankerId: reranked?.id ?? null,
    };
  }

  /** Every lane, the server's and the tenants', for shutdown and metrics. */
  lanes(): ProviderLane[] {
    const all = [this.defaults.answer, this.defaults.rerank, ...this.answers.values(), ...this.reranks.values()];
    return all.flatMap((b) => (b?.lane ? [b.lane] : []));
  }

  async close(): Promise<void> {
    await Promise.all(this.lanes().map((l) => l.close()));
  }

  /** The tenant's endpoint, model and key over the server's lane limits (concurrency, timeouts). */
  private merge(base: ProviderConfig, own: OpenProvider): ProviderConfig {
    return { ...base, baseUrl: own.baseUrl, model: own.model, apiKey: own.apiKey ?? 'none', tenantEgress: { allowPrivate: this.allowPrivate } };
  }

  private cached<T>(map: Map<string, T>, cfg: ProviderConfig, build: (c: ProviderConfig) => T): T {
    // The key's hash, not the key, names the lane: the map must not become a second key store.
    const id = `${cfg.baseUrl}\n${cfg.model}\n${createHash('sha256').update(cfg.apiKey).digest('hex')}`;
    let built = map.get(id);
    if (!built) map.set(id, (built = build(cfg)));
    return built;
  }
}
