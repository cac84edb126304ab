import OpenAI from 'openai';
import { AppError } from '../domain/errors.js';
import { remoteEmbedderId } from '../domain/embedder-space.js';
import { type Embedder, type Priority, ProviderRequestError } from '../ports/models.js';
import type { ProviderLane } from './lane.js';

/**
 * Embeddings from any OpenAI-compatible /embeddings endpoint (OpenAI, Ollama, vLLM, TEI …).
 * Inputs are split into batches by count and by an estimated token budget; every batch goes
 * through the provider's lane, and vectors come back in input order.
 */

export interface OpenAIEmbedderOptions {
  baseURL: string;
  apiKey?: string;
  model: string;
  /** The dimension the index is built for; a vector of any other length is an error. */
  dim: number;
  lane: ProviderLane;
  /** Most inputs per request (default 64). */
  batchSize?: number;
  /** Estimated tokens per request, at ~4 characters a token (default 8000). */
  maxBatchTokens?: number;
  /**
   * 'base64' (default, as the official OpenAI SDKs ask) is a quarter of the bytes of 'float' and
   * decodes without parsing millions of JSON numbers; a server that ignores it and sends floats is
   * read all the same, and one that refuses it (4xx) is asked again, from then on, for 'float'.
   */
  encodingFormat?: 'float' | 'base64';
  /** Send `dimensions: dim` (OpenAI text-embedding-3 can shorten its vectors; other servers may reject it). */
  sendDimensions?: boolean;
  /** A preconfigured client (tests); it must have maxRetries 0. */
  client?: OpenAI;
  /** The fetch the client calls with (a tenant's provider: the egress policy's). */
  fetch?: typeof fetch;
}

/** The endpoint's vectors do not have the configured dimension: a configuration error, never retried. */
export class EmbeddingDimensionError extends AppError {
  constructor(
    readonly model: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(
      502,
      'embedding_dimension_mismatch',
      `embedding model ${model} returned ${actual}-dimensional vectors but ${expected} is configured; ` +
        'set the embedding dimension to match the model (or use a model of that dimension)',
    );
    this.name = 'EmbeddingDimensionError';
  }
}

const estimateTokens = (text: string): number => Math.ceil(text.length / 4);

/**
 * Splits [0, texts.length) into consecutive batches of at most `maxItems` inputs and, where
 * possible, at most `maxTokens` estimated tokens. A single input larger than the budget gets a
 * batch of its own (the endpoint decides whether to truncate it).
 */
export function planBatches(texts: readonly string[], maxItems: number, maxTokens: number): { start: number; end: number }[] {
  const batches: { start: number; end: number }[] = [];
  let start = 0;
  let tokens = 0;
  for (let i = 0; i < texts.length; i++) {
    const t = estimateTokens(texts[i]!);
    if (i > start && (i - start >= maxItems || tokens + t > maxTokens)) {
      batches.push({ start, end: i });
      start = i;
      tokens = 0;
    }
    tokens += t;
  }
  if (start < texts.length) batches.push({ start, end: texts.length });
  return batches;
}

function toVector(embedding: unknown): Float32Array {
  if (typeof embedding === 'string') {
    // base64 of little-endian float32s; copy so the vector does not alias a pooled Buffer.
    const bytes = Buffer.from(embedding, 'base64');
    const out = new Float32Array(bytes.byteLength / 4);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  if (Array.isArray(embedding)) return Float32Array.from(embedding as number[]);
  throw new Error('embeddings: the endpoint returned an embedding that is neither a number array nor base64');
}

export class OpenAIEmbedder implements Embedder {
  /** `openai:<baseURL>#<model>:<dim>`: see remoteEmbedderId. */
  readonly id: string;
  /** The id earlier versions recorded (`openai:<model>`), so KBs they built stay usable. */
  readonly legacyId: string;
  readonly dim: number;
  private readonly client: OpenAI;
  private readonly model: string;
  readonly lane: ProviderLane;
  private readonly batchSize: number;
  private readonly maxBatchTokens: number;
  private encodingFormat: 'float' | 'base64';
  /** The server has answered a base64 request: a later 4xx is about something else. */
  private base64Confirmed = false;
  private readonly sendDimensions: boolean;

  constructor(opts: OpenAIEmbedderOptions) {
    this.id = remoteEmbedderId({ baseUrl: opts.baseURL, model: opts.model, dim: opts.dim });
    this.legacyId = `openai:${opts.model}`;
    this.dim = opts.dim;
    this.model = opts.model;
    this.lane = opts.lane;
    this.batchSize = Math.max(1, opts.batchSize ?? 64);
    this.maxBatchTokens = Math.max(1, opts.maxBatchTokens ?? 8000);
    this.encodingFormat = opts.encodingFormat ?? 'base64';
    this.sendDimensions = opts.sendDimensions ?? false;
    // The lane is the only retry authority; local servers need no key but the SDK insists on one.
    this.client = opts.client ?? new OpenAI({ baseURL: opts.baseURL, apiKey: opts.apiKey || 'unused', maxRetries: 0, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
  }

  async embed(texts: string[], opts: { priority: Priority; signal?: AbortSignal; requestId?: string }): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    // One failed batch fails the call, so stop the sibling batches rather than let them use the lane.
    const siblings = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, siblings.signal]) : siblings.signal;
    const out = new Array<Float32Array>(texts.length);
    try {
      await Promise.all(
        planBatches(texts, this.batchSize, this.maxBatchTokens).map(async ({ start, end }) => {
          const vectors = await this.embedBatch(texts.slice(start, end), opts.priority, signal, opts.requestId);
          vectors.forEach((v, i) => (out[start + i] = v));
        }),
      );
    } catch (err) {
      siblings.abort();
      // The caller's own abort wins over whatever a sibling batch reported.
      if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : err;
      throw err;
    }
    return out;
  }

  private async embedBatch(batch: string[], priority: Priority, signal: AbortSignal, requestId?: string): Promise<Float32Array[]> {
    try {
      const vectors = await this.embedBatchAs(this.encodingFormat, batch, priority, signal, requestId);
      if (this.encodingFormat === 'base64') this.base64Confirmed = true;
      return vectors;
    } catch (err) {
      // 400/422: the request's shape was refused (a 401 or 404 would be refused as floats too).
      const refusedShape = err instanceof ProviderRequestError && (err.upstreamStatus === 400 || err.upstreamStatus === 422);
      if (!refusedShape || this.encodingFormat !== 'base64' || this.base64Confirmed) throw err;
      this.encodingFormat = 'float';
      return this.embedBatchAs('float', batch, priority, signal, requestId);
    }
  }

  private async embedBatchAs(
    encodingFormat: 'float' | 'base64',
    batch: string[],
    priority: Priority,
    signal: AbortSignal,
    requestId?: string,
  ): Promise<Float32Array[]> {
    // OpenAI rejects empty strings; a blank input still deserves a vector, not a failed batch.
    const input = batch.map((t) => (t.length === 0 ? ' ' : t));
    const response = await this.lane.run(
      (attemptSignal) =>
        this.client.embeddings.create(
          {
            model: this.model,
            input,
            encoding_format: encodingFormat,
            ...(this.sendDimensions ? { dimensions: this.dim } : {}),
          },
          { signal: attemptSignal, maxRetries: 0 },
        ),
      { priority, signal, ...(requestId ? { requestId } : {}) },
    );

    if (!Array.isArray(response.data) || response.data.length !== batch.length) {
      throw new Error(`embeddings: the endpoint returned ${response.data?.length ?? 0} vectors for ${batch.length} inputs`);
    }
    const vectors = new Array<Float32Array>(batch.length);
    // Order by the `index` field, not by position: the API does not promise they agree.
    for (const item of response.data) {
      const index = item.index;
      if (!Number.isInteger(index) || index < 0 || index >= batch.length || vectors[index]) {
        throw new Error(`embeddings: the endpoint returned an invalid or repeated index ${String(index)}`);
      }
      const v = toVector(item.embedding);
      if (v.length !== this.dim) throw new EmbeddingDimensionError(this.model, this.dim, v.length);
      vectors[index] = v;
    }
    return vectors;
  }
}
