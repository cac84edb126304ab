import type { Logger } from 'pino';
import { type AnswerGenerator, ProviderTimeoutError, ProviderUnavailableError } from '../../ports/models.js';
import { type ExtractiveAnswerer, FALLBACK_PREFIX } from './extractive-answerer.js';
import { buildMessages, warmTokenizer } from './prompt.js';
import type { AnswerKind, Citation } from './types.js';

export interface AnswerStepOptions {
  /** Answer extractively (and say so) when the LLM is unavailable, instead of failing with 503. */
  fallbackToExtractive: boolean;
  promptTokens: number;
}

export interface AnswerOutcome {
  text: string;
  kind: AnswerKind;
  /** Set when the answer is a fallback: a degraded answer that must not be cached. */
  fallbackNotice?: string;
  /** The model's answer may be cut short or is empty: shown, not cached. */
  incomplete?: boolean;
}

/** Outages retrying could not fix; a rejected request (400, bad key) is not one of them. */
const isOutage = (err: unknown) => err instanceof ProviderUnavailableError || err instanceof ProviderTimeoutError;

/**
 * Turns the question and its numbered sources into an answer: with the LLM when one is
 * configured (prompt with [n] sources), otherwise extractively.
 */
export class AnswerStep {
  constructor(
    private readonly llm: AnswerGenerator | null,
    private readonly extractive: ExtractiveAnswerer,
    private readonly opts: AnswerStepOptions,
    private readonly logger?: Logger,
  ) {
    // With a model to prompt, most prompts need the tokenizer: load it now rather than on the
    // event loop in the middle of the first questions. Without one it is never loaded.
    if (llm) warmTokenizer();
  }

  get kind(): AnswerKind {
    return this.llm ? 'llm' : 'extractive';
  }

  async answer(
    query: string,
    citations: Citation[],
    signal?: AbortSignal,
    onToken?: (t: string) => void,
    requestId?: string,
  ): Promise<AnswerOutcome> {
    const sources = citations.map((c, i) => ({ n: i + 1, text: c.text }));
    const hooks = { ...(signal ? { signal } : {}), ...(onToken ? { onToken } : {}) };
    if (!this.llm) {
      const r = await this.extractive.answerFrom(query, sources, hooks);
      return { text: r.text, kind: 'extractive' };
    }
    let emitted = false;
    const tokenHook = onToken
      ? (t: string) => {
          emitted = true;
          onToken(t);
        }
      : undefined;
    try {
      const messages = await buildMessages(query, citations, this.opts.promptTokens);
      const r = await this.llm.generate({
        messages,
        ...(signal ? { signal } : {}),
        ...(tokenHook ? { onToken: tokenHook } : {}),
        ...(requestId ? { requestId } : {}),
      });
      return { text: r.text, kind: 'llm', ...(r.complete === false ? { incomplete: true } : {}) };
    } catch (err) {
      // Once a client has seen model tokens, a different answer cannot be spliced in.
      if (signal?.aborted || emitted || !this.opts.fallbackToExtractive || !isOutage(err)) throw err;
      this.logger?.warn({ err, ...(requestId ? { reqId: requestId } : {}) }, 'LLM unavailable: answering extractively');
      const r = await this.extractive.answerFrom(query, sources, { ...hooks, prefix: FALLBACK_PREFIX });
      const why = err instanceof Error ? err.message : String(err);
      return { text: r.text, kind: 'extractive', fallbackNotice: `The language model is unavailable (${why}); this answer is extractive.` };
    }
  }
}
