import type { Logger } from 'pino';
import { type AnswerGenerator, type ChatMessage, ProviderTimeoutError, ProviderUnavailableError } from '../../ports/models.js';
import { notices } from '../../domain/messages.js';
import { DEFAULT_LANG, type Lang } from '../../text/language.js';
import type { ExtractiveAnswerer } from './extractive-answerer.js';
import { buildMessages, buildRewriteMessages, warmTokenizer } from './prompt.js';
import { type AnswerKind, type Citation, MAX_QUERY_CHARS } from './types.js';

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
    history?: readonly ChatMessage[],
    lang: Lang = DEFAULT_LANG,
  ): Promise<AnswerOutcome> {
    const sources = citations.map((c, i) => ({ n: i + 1, text: c.text }));
    const hooks = { lang, ...(signal ? { signal } : {}), ...(onToken ? { onToken } : {}) };
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
      const messages = await buildMessages(query, citations, this.opts.promptTokens, history);
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
      const r = await this.extractive.answerFrom(query, sources, { ...hooks, prefix: notices(lang).fallbackLabel });
      const why = err instanceof Error ? err.message : String(err);
      return { text: r.text, kind: 'extractive', fallbackNotice: notices(lang).modelUnavailable(why) };
    }
  }

  /**
   * A follow-up question ("and how tall is it?") rewritten by the model into one that stands
   * alone, for retrieval: through the same provider lane as the answers, at the same priority.
   * Without a model, or without earlier turns, the question is returned as it is; so it is when
   * the model is out (the answer then follows its own fallback policy) or replies with nothing usable.
   */
  async rewrite(question: string, history: readonly ChatMessage[], signal?: AbortSignal, requestId?: string): Promise<string> {
    if (!this.llm || history.length === 0) return question;
    try {
      const r = await this.llm.generate({
        messages: buildRewriteMessages(history, question, Math.floor(this.opts.promptTokens / 2)),
        ...(signal ? { signal } : {}),
        ...(requestId ? { requestId } : {}),
      });
      // The first non-empty line, without the quotes or label some models add anyway.
      const line = r.text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
      const standalone = line.replace(/^(standalone question|question)\s*:\s*/i, '').replace(/^["'“「](.*)["'”」]$/u, '$1').trim();
      return standalone !== '' && [...standalone].length <= MAX_QUERY_CHARS ? standalone : question;
    } catch (err) {
      if (signal?.aborted || !isOutage(err)) throw err;
      this.logger?.warn({ err, ...(requestId ? { reqId: requestId } : {}) }, 'LLM unavailable: follow-up question not rewritten');
      return question;
    }
  }
}
