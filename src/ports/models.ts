import { AppError } from '../domain/errors.js';

/**
 * The ports through which services reach remote models (embeddings, chat, rerank).
 * Implementations live in src/providers; services depend only on this file.
 */

/**
 * Who is waiting for a model call. Interactive work (a user's question) goes ahead of bulk work
 * (ingestion) queued in the same provider lane, so an upload never starves queries.
 */
export type Priority = 'interactive' | 'bulk';

export interface Embedder {
  /** Identifies the vector space, e.g. 'hash:384' or 'openai:text-embedding-3-small'. Vectors with different ids are not comparable. */
  readonly id: string;
  readonly dim: number;
  /** One vector per input, in input order. */
  embed(texts: string[], opts: { priority: Priority; signal?: AbortSignal; requestId?: string }): Promise<Float32Array[]>;
}

/**
 * The embedders a tenant can reach: its own provider's (from its settings) or the server's.
 * A KB is embedded and searched only with the embedder of the space it was built in.
 */
export interface EmbedderResolver {
  /** The embedder new KBs of the tenant are built with. */
  forTenant(tenantId: string): Promise<Embedder>;
  /** The embedder of the KB's recorded space, or null when the tenant can no longer reach it. */
  forKb(tenantId: string, kb: { embedder: string; embedDim: number }): Promise<Embedder | null>;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface GenerateInput {
  messages: ChatMessage[];
  /** Aborting cancels the upstream request at once (queued or in flight). */
  signal?: AbortSignal;
  /** When given, the answer is streamed and each token is passed here as it arrives. */
  onToken?: (token: string) => void;
  /** The HTTP request the answer is for (named in the provider lane's log lines). */
  requestId?: string;
}

export interface GenerateResult {
  text: string;
  /**
   * False when the answer may be cut short: a stream that ended without a finish reason, a
   * plain answer without one, or no text at all. Shown to the asker, never cached.
   */
  complete?: boolean;
  model: string;
  usage?: { prompt_tokens: number; completion_tokens: number };
}

export interface AnswerGenerator {
  readonly kind: 'llm' | 'extractive';
  generate(input: GenerateInput): Promise<GenerateResult>;
}

export interface Reranker {
  /** The topN best documents, best first; `index` points into `documents`. */
  rerank(query: string, documents: string[], opts: { topN: number; signal?: AbortSignal; requestId?: string }): Promise<{ index: number; score: number }[]>;
}

/** A page to OCR: a PNG on local disk (the OCR stage renders it there), and its size. */
export interface OcrImage {
  path: string;
  width: number;
  height: number;
}

export interface OcrLine {
  text: string;
  /** The engine's confidence in the line, 0-1, or null when the engine gives none (vision models). */
  confidence: number | null;
}

export interface OcrResult {
  /** The page's lines, in reading order. */
  lines: OcrLine[];
  /** The engine that read this page (e.g. `paddle`, `vision:qwen2.5-vl`): a fallback may have stood in. */
  engine: string;
}

/**
 * Reads the text in a page image. Local engines run in the OCR worker pool; a vision model is
 * reached through its own provider lane, at the priority given (OCR is always bulk work).
 */
export interface OcrEngine {
  readonly id: string;
  recognize(image: OcrImage, opts: { priority: Priority; signal?: AbortSignal }): Promise<OcrResult>;
}

function retryAfterHeader(retryAfterMs: number | undefined): Record<string, string> {
  return retryAfterMs === undefined ? {} : { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) };
}

/**
 * The provider cannot serve us right now: its circuit breaker is open, or retries on
 * 429/5xx/network errors ran out. Clients may retry later (Retry-After is set when known).
 */
export class ProviderUnavailableError extends AppError {
  constructor(
    readonly provider: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(503, 'provider_unavailable', `${provider}: ${message}`, retryAfterHeader(retryAfterMs));
    this.name = 'ProviderUnavailableError';
  }
}

/** The provider did not answer within the lane's timeout (or answered 408/504 every time). */
export class ProviderTimeoutError extends AppError {
  constructor(
    readonly provider: string,
    message: string,
  ) {
    super(504, 'provider_timeout', `${provider}: ${message}`);
    this.name = 'ProviderTimeoutError';
  }
}

/**
 * The provider refused the request in a way retrying cannot fix (400, 401, 404, 422 …): usually a
 * configuration problem (wrong key, unknown model) or an input the model rejects. A 502 for our client.
 */
export class ProviderRequestError extends AppError {
  constructor(
    readonly provider: string,
    readonly upstreamStatus: number,
    message: string,
  ) {
    super(502, 'provider_error', `${provider}: upstream answered ${upstreamStatus}: ${message}`);
    this.name = 'ProviderRequestError';
  }
}

/**
 * The provider answered 2xx with a body that is not what its API returns (not JSON, no choices).
 * Retrying the same request would most likely get the same: a 502 for our client, not a 500.
 */
export class ProviderMalformedError extends AppError {
  constructor(readonly provider: string, what: string) {
    super(502, 'provider_error', `${provider}: the provider's answer could not be read (${what})`);
    this.name = 'ProviderMalformedError';
  }
}
