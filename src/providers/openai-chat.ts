import OpenAI from 'openai';
import { ProviderMalformedError, type AnswerGenerator, type ChatMessage, type GenerateInput, type GenerateResult } from '../ports/models.js';
import type { AttemptContext, ProviderLane } from './lane.js';

/**
 * Answers from any OpenAI-compatible /chat/completions endpoint, streamed when the caller wants
 * tokens as they come. Always in the lane at interactive priority: someone is waiting.
 */

export interface OpenAIChatOptions {
  baseURL: string;
  apiKey?: string;
  model: string;
  lane: ProviderLane;
  temperature?: number;
  /** Sent as `max_tokens`, which OpenAI-compatible servers understand. */
  maxTokens?: number;
  /**
   * Ask for token usage on streamed answers (`stream_options.include_usage`, default true).
   * Turn off for servers that reject the option.
   */
  streamUsage?: boolean;
  /** A preconfigured client (tests); it must have maxRetries 0. */
  client?: OpenAI;
  /** The fetch the client calls with (a tenant's provider: the egress policy's). */
  fetch?: typeof fetch;
}

type Usage = GenerateResult['usage'];

function usageOf(u: { prompt_tokens: number; completion_tokens: number } | null | undefined): Usage {
  return u ? { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens } : undefined;
}

export class OpenAIChatGenerator implements AnswerGenerator {
  readonly kind = 'llm' as const;
  private readonly client: OpenAI;
  private readonly model: string;
  private readonly lane: ProviderLane;
  private readonly temperature: number | undefined;
  private readonly maxTokens: number | undefined;
  private readonly streamUsage: boolean;

  constructor(opts: OpenAIChatOptions) {
    this.model = opts.model;
    this.lane = opts.lane;
    this.temperature = opts.temperature;
    this.maxTokens = opts.maxTokens;
    this.streamUsage = opts.streamUsage ?? true;
    // The lane is the only retry authority; local servers need no key but the SDK insists on one.
    this.client = opts.client ?? new OpenAI({ baseURL: opts.baseURL, apiKey: opts.apiKey || 'unused', maxRetries: 0, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
  }

  generate(input: GenerateInput): Promise<GenerateResult> {
    const { messages, signal, onToken, requestId } = input;
    return this.lane.run(
      (attemptSignal, ctx) =>
        (onToken ? this.stream(messages, onToken, attemptSignal, ctx) : this.complete(messages, attemptSignal)).catch((err: unknown) => {
          // The SDK parses the body with JSON.parse: garbage from upstream surfaces as a SyntaxError.
          throw err instanceof SyntaxError ? new ProviderMalformedError('llm', 'not valid JSON') : err;
        }),
      { priority: 'interactive', signal, ...(requestId ? { requestId } : {}) },
    );
  }

  private params(messages: ChatMessage[]): { model: string; messages: ChatMessage[]; temperature?: number; max_tokens?: number } {
    return {
      model: this.model,
      messages,
      ...(this.temperature !== undefined ? { temperature: this.temperature } : {}),
      ...(this.maxTokens !== undefined ? { max_tokens: this.maxTokens } : {}),
    };
  }

  private async complete(messages: ChatMessage[], signal: AbortSignal): Promise<GenerateResult> {
    const res = await this.client.chat.completions.create({ ...this.params(messages), stream: false }, { signal, maxRetries: 0 });
    const usage = usageOf(res.usage);
    const choice = res.choices?.[0];
    const text = choice?.message?.content ?? '';
    return { text, complete: Boolean(choice?.finish_reason) && text.trim() !== '', model: res.model || this.model, ...(usage ? { usage } : {}) };
  }

  private async stream(
    messages: ChatMessage[],
    onToken: (token: string) => void,
    signal: AbortSignal,
    ctx: AttemptContext,
  ): Promise<GenerateResult> {
    // The signal goes to the HTTP request itself, so an abort closes the upstream connection.
    const stream = await this.client.chat.completions.create(
      {
        ...this.params(messages),
        stream: true,
        ...(this.streamUsage ? { stream_options: { include_usage: true } } : {}),
      },
      { signal, maxRetries: 0 },
    );
    let text = '';
    let model = this.model;
    let usage: Usage;
    let finished = false;
    for await (const chunk of stream) {
      // Each chunk is progress: the lane's timeout guards silence, not the length of the answer.
      ctx.heartbeat();
      if (chunk.model) model = chunk.model;
      if (chunk.usage) usage = usageOf(chunk.usage);
      if (chunk.choices?.[0]?.finish_reason) finished = true;
      const token = chunk.choices[0]?.delta?.content;
      if (!token) continue;
      // A chunk already buffered when the call was abandoned must not reach the caller.
      if (signal.aborted) break;
      // Once the caller has seen a token, a retry would repeat the answer: failures are final.
      ctx.commit();
      text += token;
      onToken(token);
    }
    signal.throwIfAborted();
    // A body that just ends (no finish reason; [DONE] is not required by the SDK) may be cut short.
    return { text, complete: finished && text.trim() !== '', model, ...(usage ? { usage } : {}) };
  }
}
