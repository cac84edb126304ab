import { notices } from '../../domain/messages.js';
import type { AnswerGenerator, GenerateInput, GenerateResult } from '../../ports/models.js';
import { type Lang, questionLanguage } from '../../text/language.js';
import type { ExtractInput, ExtractOutput } from './extract-sentences.js';
import { parseMessages } from './prompt.js';

export const EXTRACTIVE_PREFIX = notices('en').extractiveLabel;
export const FALLBACK_PREFIX = notices('en').fallbackLabel;

/** Where the sentence picking runs: the search worker pool (SearchPool implements this). */
export interface ExtractRunner {
  extractAnswer(input: ExtractInput, signal?: AbortSignal): Promise<ExtractOutput>;
}

export interface ExtractiveOptions {
  /** The first words of every answer, so nobody mistakes it for a model's. */
  prefix?: string;
  /** The language of the label and of the no-match sentence; default: the question's. */
  lang?: Lang;
  signal?: AbortSignal;
  onToken?: (text: string) => void;
}

/**
 * The answerer that needs no model: the best 2–4 sentences of the retrieved sources, each
 * followed by its citation marker, labelled as extractive. Streaming emits the label and then
 * one sentence per token event.
 */
export class ExtractiveAnswerer implements AnswerGenerator {
  readonly kind = 'extractive' as const;

  constructor(private readonly runner: ExtractRunner) {}

  /** The direct path: the query service already holds the question and the numbered sources. */
  async answerFrom(query: string, sources: { n: number; text: string }[], opts: ExtractiveOptions = {}): Promise<GenerateResult> {
    const words = notices(opts.lang ?? questionLanguage(query));
    const prefix = opts.prefix ?? words.extractiveLabel;
    const { sentences } = sources.length > 0 ? await this.runner.extractAnswer({ query, sources }, opts.signal) : { sentences: [] };
    opts.signal?.throwIfAborted();
    const pieces =
      sentences.length > 0
        ? sentences.map((s) => ` ${s.text} [${s.n}]`)
        : [` ${words.noPassage}`];
    opts.onToken?.(prefix);
    for (const p of pieces) opts.onToken?.(p);
    return { text: prefix + pieces.join(''), model: 'extractive' };
  }

  generate(input: GenerateInput): Promise<GenerateResult> {
    const { query, sources } = parseMessages(input.messages);
    return this.answerFrom(query, sources, {
      ...(input.signal ? { signal: input.signal } : {}),
      ...(input.onToken ? { onToken: input.onToken } : {}),
    });
  }
}
