import type { ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * A stand-in for an OpenAI-compatible model server, for tests and benchmarks. It speaks the real
 * wire protocol over real HTTP (chat completions plain and SSE-streamed, embeddings as floats or
 * base64, Cohere/Jina- or TEI-style rerank) and has knobs for latency and failures, plus counters
 * that let a test prove what reached it: requests, concurrency, and client disconnects.
 *
 * Per-connection state is one AbortController and a few closures, so it can hold thousands of
 * open streams.
 */

export type FakeRoute = 'chat' | 'embeddings' | 'rerank';
const ROUTES: readonly FakeRoute[] = ['chat', 'embeddings', 'rerank'];

/** A message's content: text, or (vision requests) parts of text and images as data URLs. */
export type FakeContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

/** A message as `answer` sees it: content parts are flattened to text, their images listed apart. */
export interface FakeMessage {
  role: string;
  content: string;
  /** The image URLs (data URLs) of a vision request's content parts (OCR). */
  images?: string[];
}

type WireMessage = { role: string; content: string | FakeContentPart[] };

function fromWire(m: WireMessage): FakeMessage {
  if (typeof m.content === 'string' || !Array.isArray(m.content)) return { role: m.role, content: String(m.content ?? '') };
  const text = m.content.map((p) => (p.type === 'text' ? p.text : '')).join('\n');
  const images = m.content.flatMap((p) => (p.type === 'image_url' ? [p.image_url.url] : []));
  return { role: m.role, content: text, ...(images.length > 0 ? { images } : {}) };
}

/** The image URLs a chat request carries, from its messages as sent or as `answer` sees them. */
export function messageImages(messages: (FakeMessage | WireMessage)[]): string[] {
  return messages.flatMap((m) => ('images' in m && m.images ? m.images : fromWire(m as WireMessage).images ?? []));
}

/** Knobs that can be set for all routes and overridden per route. */
export interface RouteKnobs {
  /** Delay before the first byte of the response. */
  latencyMs: number;
  /** The next `count` requests fail with `status` (optionally with Retry-After headers). */
  failNext: { status: number; count: number; retryAfterSec?: number; retryAfterMs?: number } | null;
  /** Fraction (0..1) of requests that fail with `failStatus`. */
  failRate: number;
  failStatus: number;
  /** Every request fails with 503. */
  down: boolean;
  /**
   * A provider with a fixed capacity: a request arriving while this many are already open on the
   * route is answered 429 at once (with `retry-after-ms: overloadRetryAfterMs` when set). Null = no limit.
   */
  maxInFlight: number | null;
  overloadRetryAfterMs: number | null;
}

export interface FakeBehavior extends RouteKnobs {
  /** Delay between streamed chunks. */
  tokenDelayMs: number;
  /** Words per streamed chunk (default 1, like a real server; more makes a benchmark cheaper for the fake). */
  tokensPerChunk: number;
  /** The assistant's answer, or a function of the request's messages. */
  answer: string | ((messages: FakeMessage[]) => string);
  /** Dimension of the vectors /embeddings returns (unless the request asks for `dimensions`). */
  embedDim: number;
  /** /embeddings answers 400 to `encoding_format: "base64"`, as some servers do. */
  refuseBase64: boolean;
  /** Response shape of /rerank: Cohere/Jina `{results:[{index, relevance_score}]}` or TEI `[{index, score}]`. */
  rerankShape: 'cohere' | 'tei';
  /** The next `count` streamed answers break (socket destroyed) after `afterTokens` content chunks. */
  breakStreamNext: { afterTokens: number; count: number } | null;
  /**
   * The next `count` chat answers are malformed: `truncated` streams its content and ends the
   * body cleanly without a finish reason or `[DONE]` (plain: `finish_reason: null`); `garbage`
   * answers 200 with a body that is not JSON.
   */
  malformedNext: { kind: 'truncated' | 'garbage'; count: number } | null;
  /** How many request bodies `stats.bodies` keeps (the most recent). */
  maxBodies: number;
  chat: Partial<RouteKnobs>;
  embeddings: Partial<RouteKnobs>;
  rerank: Partial<RouteKnobs>;
}

export interface FakeStats {
  /** Requests received per route, failed ones included. */
  requests: Record<FakeRoute, number>;
  /** Requests currently open per route. */
  inFlight: Record<FakeRoute, number>;
  /** Highest number of requests open at once per route. */
  maxConcurrent: Record<FakeRoute, number>;
  /** Requests answered with an injected failure. */
  failed: Record<FakeRoute, number>;
  /** Requests refused with 429 because `maxInFlight` were already open (part of `failed`). */
  overloaded: Record<FakeRoute, number>;
  /** Requests whose client disconnected before the response was complete. */
  aborted: number;
  abortedByRoute: Record<FakeRoute, number>;
  /** The most recent request bodies, oldest first. */
  bodies: { route: FakeRoute; body: unknown; authorization?: string }[];
}

export interface FakeOpenAI {
  /** Base URL including /v1, e.g. http://127.0.0.1:41234/v1. */
  url: string;
  /** Live counters (the same object is updated in place). */
  readonly stats: FakeStats;
  setBehavior(partial: Partial<FakeBehavior>): void;
  resetStats(): void;
  /** Stops the server and drops every open connection. */
  close(): Promise<void>;
}

const DEFAULTS: FakeBehavior = {
  latencyMs: 0,
  failNext: null,
  failRate: 0,
  failStatus: 503,
  down: false,
  maxInFlight: null,
  overloadRetryAfterMs: null,
  tokenDelayMs: 0,
  tokensPerChunk: 1,
  answer: (messages) => {
    const question = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    return `This is a fake answer about: ${question.split(/\s+/).slice(0, 12).join(' ')}`;
  },
  embedDim: 384,
  refuseBase64: false,
  rerankShape: 'cohere',
  breakStreamNext: null,
  malformedNext: null,
  maxBodies: 100,
  chat: {},
  embeddings: {},
  rerank: {},
};

const perRoute = (): Record<FakeRoute, number> => ({ chat: 0, embeddings: 0, rerank: 0 });

function emptyStats(): FakeStats {
  return {
    requests: perRoute(),
    inFlight: perRoute(),
    maxConcurrent: perRoute(),
    failed: perRoute(),
    overloaded: perRoute(),
    aborted: 0,
    abortedByRoute: perRoute(),
    bodies: [],
  };
}

/** Lower-case word tokens: the unit both the fake embeddings and the fake reranker work on. */
function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Feature hashing of the words, L2-normalised: deterministic, and texts sharing words get similar
 * vectors, so retrieval over fake embeddings still behaves sensibly.
 */
export function fakeEmbedding(text: string, dim: number): Float32Array {
  const v = new Float32Array(dim);
  const tokens = words(text);
  for (const w of tokens.length > 0 ? tokens : [text]) {
    const h = fnv1a(w);
    v[h % dim] = (v[h % dim] ?? 0) + ((h & 0x80000000) !== 0 ? -1 : 1);
  }
  let norm = Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
  if (norm === 0) {
    v[0] = 1;
    norm = 1;
  }
  for (let i = 0; i < dim; i++) v[i] = v[i]! / norm;
  return v;
}

/** Share of the query's distinct words that occur in the document (0..1). */
export function overlapScore(query: string, document: string): number {
  const q = new Set(words(query));
  if (q.size === 0) return 0;
  const d = new Set(words(document));
  let hits = 0;
  for (const w of q) if (d.has(w)) hits++;
  return hits / q.size;
}

/** Word-sized pieces whose concatenation is the whole text. */
function pieces(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

const estimateTokens = (chars: number): number => Math.max(1, Math.ceil(chars / 4));

function errorBody(status: number, message: string): { error: { message: string; type: string; param: null; code: string | null } } {
  const type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message, type, param: null, code: null } };
}

class BadRequest extends Error {}

interface StreamPlan {
  id: string;
  created: number;
  model: string;
  parts: string[];
  tokenDelayMs: number;
  tokensPerChunk: number;
  /** Drop the connection after this many content chunks. */
  breakAfter: number | undefined;
  /** End the body after the content, without a finish reason or [DONE]. */
  truncated: boolean;
  usage: object | undefined;
  onDeliberateBreak: () => void;
}

/**
 * Writes an answer as `chat.completion.chunk` SSE events. Driven by one timer per connection, with
 * the JSON envelope serialised once, since a benchmark may hold thousands of these open at once.
 */
function streamAnswer(res: ServerResponse, gone: AbortSignal, plan: StreamPlan): void {
  const per = Math.max(1, plan.tokensPerChunk);
  const chunks: string[] = [];
  for (let i = 0; i < plan.parts.length; i += per) chunks.push(plan.parts.slice(i, i + per).join(''));
  const head = `data: {"id":${JSON.stringify(plan.id)},"object":"chat.completion.chunk","created":${plan.created},"model":${JSON.stringify(plan.model)},"choices":`;
  const event = (delta: string, finish: string): string =>
    `${head}[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish}}]}\n\n`;

  let next = 0;
  let timer: NodeJS.Timeout | undefined;
  gone.addEventListener('abort', () => clearTimeout(timer), { once: true });

  const finish = (): void => {
    if (plan.truncated) return void res.end();
    res.write(event('{}', '"stop"'));
    if (plan.usage) res.write(`${head}[],"usage":${JSON.stringify(plan.usage)}}\n\n`);
    res.end('data: [DONE]\n\n');
  };
  const later = (): void => {
    if (gone.aborted) return;
    if (plan.tokenDelayMs > 0) timer = setTimeout(step, plan.tokenDelayMs);
    else step();
  };
  function step(): void {
    while (!gone.aborted) {
      if (plan.breakAfter !== undefined && next >= plan.breakAfter) {
        plan.onDeliberateBreak();
        // end(), not destroy(): the chunks already written still reach the client, then the
        // connection drops in the middle of the chunked body, as when a real server dies.
        if (res.socket) res.socket.end();
        else res.destroy();
        return;
      }
      if (next >= chunks.length) return finish();
      const flowing = res.write(event(`{"content":${JSON.stringify(chunks[next++])}}`, 'null'));
      if (!flowing) {
        res.once('drain', later);
        return;
      }
      if (plan.tokenDelayMs > 0) {
        timer = setTimeout(step, plan.tokenDelayMs);
        return;
      }
    }
  }

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  res.write(event('{"role":"assistant","content":""}', 'null'));
  step();
}

export async function startFakeOpenAI(
  initial: Partial<FakeBehavior> = {},
  listen: { port?: number } = {},
): Promise<FakeOpenAI> {
  let behavior: FakeBehavior = { ...DEFAULTS };
  let stats = emptyStats();
  let seq = 0;

  const setBehavior = (partial: Partial<FakeBehavior>): void => {
    const next: FakeBehavior = { ...behavior, ...partial };
    // Copy the counted knobs: they are decremented in place.
    if (partial.failNext) next.failNext = { ...partial.failNext };
    if (partial.breakStreamNext) next.breakStreamNext = { ...partial.breakStreamNext };
    for (const r of ROUTES) {
      const override = partial[r];
      if (override) {
        next[r] = { ...behavior[r], ...override };
        if (override.failNext) next[r].failNext = { ...override.failNext };
      }
    }
    behavior = next;
  };
  setBehavior(initial);

  const knob = <K extends keyof RouteKnobs>(route: FakeRoute, key: K): RouteKnobs[K] => {
    const override = behavior[route][key];
    return override !== undefined ? (override as RouteKnobs[K]) : behavior[key];
  };

  /** The injected failure for this request, if any: consumes one failNext. */
  const injectedFailure = (route: FakeRoute): { status: number; headers: Record<string, string> } | null => {
    if (knob(route, 'down')) return { status: 503, headers: {} };
    const failNext = knob(route, 'failNext');
    if (failNext && failNext.count > 0) {
      failNext.count--;
      const headers: Record<string, string> = {};
      if (failNext.retryAfterSec !== undefined) headers['retry-after'] = String(failNext.retryAfterSec);
      if (failNext.retryAfterMs !== undefined) headers['retry-after-ms'] = String(failNext.retryAfterMs);
      return { status: failNext.status, headers };
    }
    const rate = knob(route, 'failRate');
    if (rate > 0 && Math.random() < rate) return { status: knob(route, 'failStatus'), headers: {} };
    return null;
  };

  /**
   * Bookkeeping shared by every route: counts the request and its concurrency, records the body,
   * and returns a signal that fires when the client goes away before the response is complete.
   */
  const track = (route: FakeRoute, request: FastifyRequest, reply: FastifyReply): { gone: AbortSignal; markDeliberate: () => void } => {
    const s = stats;
    s.requests[route]++;
    s.inFlight[route]++;
    s.maxConcurrent[route] = Math.max(s.maxConcurrent[route], s.inFlight[route]);
    s.bodies.push({ route, body: request.body, ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}) });
    if (s.bodies.length > behavior.maxBodies) s.bodies.splice(0, s.bodies.length - behavior.maxBodies);

    const controller = new AbortController();
    let deliberate = false;
    const res: ServerResponse = reply.raw;
    res.once('close', () => {
      // `stats`, not `s`: resetStats() may have swapped the object while this request was open.
      stats.inFlight[route]--;
      if (!res.writableFinished && !deliberate) {
        stats.aborted++;
        stats.abortedByRoute[route]++;
      }
      controller.abort();
    });
    return { gone: controller.signal, markDeliberate: () => (deliberate = true) };
  };

  /** Waits, unless the client left meanwhile (then false). */
  const wait = async (ms: number, gone: AbortSignal): Promise<boolean> => {
    if (gone.aborted) return false;
    if (ms <= 0) return true;
    try {
      await delay(ms, undefined, { signal: gone });
      return true;
    } catch {
      return false;
    }
  };

  /** Sends the injected failure if there is one. True when the request has been answered. */
  const fail = (route: FakeRoute, reply: FastifyReply): boolean => {
    const failure = injectedFailure(route);
    if (!failure) return false;
    stats.failed[route]++;
    void reply.code(failure.status).headers(failure.headers).send(errorBody(failure.status, `injected failure ${failure.status}`));
    return true;
  };

  /** Refuses the request with 429 when the route is over its `maxInFlight`. True when answered. */
  const overCapacity = (route: FakeRoute, reply: FastifyReply): boolean => {
    const cap = knob(route, 'maxInFlight');
    // inFlight already counts this request.
    if (cap === null || stats.inFlight[route] <= cap) return false;
    stats.failed[route]++;
    stats.overloaded[route]++;
    const retryAfter = knob(route, 'overloadRetryAfterMs');
    if (retryAfter !== null) void reply.header('retry-after-ms', String(retryAfter));
    void reply.code(429).send(errorBody(429, `over capacity: more than ${cap} requests open`));
    return true;
  };

  /** Nothing more to send: the client is gone. Tell Fastify not to expect a reply. */
  const abandon = (reply: FastifyReply): void => {
    reply.hijack();
  };

  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024, forceCloseConnections: true });

  app.setErrorHandler((err: Error & { statusCode?: number }, _request, reply) => {
    const status = err instanceof BadRequest ? 400 : (err.statusCode ?? 500);
    void reply.code(status).send(errorBody(status, err.message));
  });

  app.get('/v1/models', async () => ({
    object: 'list',
    data: [{ id: 'fake-model', object: 'model', created: 0, owned_by: 'fake' }],
  }));

  app.post('/v1/chat/completions', async (request, reply) => {
    const { gone, markDeliberate } = track('chat', request, reply);
    if (overCapacity('chat', reply)) return reply;
    if (!(await wait(knob('chat', 'latencyMs'), gone))) return abandon(reply);
    if (fail('chat', reply)) return reply;

    const body = (request.body ?? {}) as {
      model?: string;
      messages?: WireMessage[];
      stream?: boolean;
      stream_options?: { include_usage?: boolean };
    };
    if (!Array.isArray(body.messages) || body.messages.length === 0) throw new BadRequest("'messages' must be a non-empty array");
    const model = body.model ?? 'fake-model';
    const messages = body.messages.map(fromWire);
    const answer = typeof behavior.answer === 'function' ? behavior.answer(messages) : behavior.answer;
    const parts = pieces(answer);
    const usage = {
      prompt_tokens: estimateTokens(messages.reduce((n, m) => n + m.content.length, 0)),
      completion_tokens: parts.length,
      total_tokens: 0,
    };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const id = `chatcmpl-fake-${++seq}`;
    const created = Math.floor(Date.now() / 1000);
    const bad = behavior.malformedNext;
    const malformed = bad && bad.count > 0 ? (bad.count--, bad.kind) : null;
    if (malformed === 'garbage') {
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': body.stream ? 'text/event-stream' : 'application/json' });
      reply.raw.end(body.stream ? 'data: {"choices": [garbage\n\n' : '{"choices": [garbage');
      return reply;
    }

    if (!body.stream) {
      return {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: answer, refusal: null }, logprobs: null, finish_reason: malformed ? null : 'stop' }],
        usage,
      };
    }

    let breakAfter: number | undefined;
    const brk = behavior.breakStreamNext;
    if (brk && brk.count > 0) {
      brk.count--;
      breakAfter = brk.afterTokens;
    }
    // Streaming: take the raw response so chunks go out as they are written.
    reply.hijack();
    streamAnswer(reply.raw, gone, {
      id,
      created,
      model,
      parts,
      tokenDelayMs: behavior.tokenDelayMs,
      tokensPerChunk: behavior.tokensPerChunk,
      breakAfter,
      truncated: malformed === 'truncated',
      usage: body.stream_options?.include_usage ? usage : undefined,
      onDeliberateBreak: markDeliberate,
    });
  });

  app.post('/v1/embeddings', async (request, reply) => {
    const { gone } = track('embeddings', request, reply);
    if (overCapacity('embeddings', reply)) return reply;
    if (!(await wait(knob('embeddings', 'latencyMs'), gone))) return abandon(reply);
    if (fail('embeddings', reply)) return reply;

    const body = (request.body ?? {}) as { model?: string; input?: unknown; encoding_format?: string; dimensions?: number };
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((t) => typeof t === 'string')) {
      throw new BadRequest("'input' must be a string or a non-empty array of strings");
    }
    const dim = typeof body.dimensions === 'number' && body.dimensions > 0 ? body.dimensions : behavior.embedDim;
    const base64 = body.encoding_format === 'base64';
    if (base64 && behavior.refuseBase64) throw new BadRequest("'encoding_format' must be 'float'");
    let chars = 0;
    const data = (inputs as string[]).map((text, index) => {
      chars += text.length;
      const v = fakeEmbedding(text, dim);
      return {
        object: 'embedding',
        index,
        embedding: base64 ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v),
      };
    });
    const tokens = estimateTokens(chars);
    return { object: 'list', data, model: body.model ?? 'fake-embed', usage: { prompt_tokens: tokens, total_tokens: tokens } };
  });

  app.post('/v1/rerank', async (request, reply) => {
    const { gone } = track('rerank', request, reply);
    if (overCapacity('rerank', reply)) return reply;
    if (!(await wait(knob('rerank', 'latencyMs'), gone))) return abandon(reply);
    if (fail('rerank', reply)) return reply;

    // Cohere/Jina send `documents` (strings or {text}); TEI sends `texts`.
    const body = (request.body ?? {}) as {
      model?: string;
      query?: unknown;
      documents?: unknown[];
      texts?: unknown[];
      top_n?: number;
      return_documents?: boolean;
    };
    const docs = (body.documents ?? body.texts)?.map((d) =>
      typeof d === 'string' ? d : typeof (d as { text?: unknown })?.text === 'string' ? (d as { text: string }).text : null,
    );
    if (typeof body.query !== 'string' || !docs || docs.some((d) => d === null)) {
      throw new BadRequest("'query' must be a string and 'documents' an array of strings");
    }
    const query = body.query;
    const ranked = (docs as string[])
      .map((text, index) => ({ index, score: overlapScore(query, text), text }))
      .sort((a, b) => b.score - a.score || a.index - b.index);

    if (behavior.rerankShape === 'tei') {
      // TEI has no top_n: it returns every text, best first.
      return ranked.map(({ index, score }) => ({ index, score }));
    }
    const topN = typeof body.top_n === 'number' && body.top_n > 0 ? body.top_n : ranked.length;
    return {
      id: `rerank-fake-${++seq}`,
      results: ranked.slice(0, topN).map(({ index, score, text }) => ({
        index,
        relevance_score: score,
        ...(body.return_documents ? { document: { text } } : {}),
      })),
      meta: { billed_units: { search_units: 1 } },
    };
  });

  // A big backlog so a benchmark opening 1,000+ connections at once is not refused by the kernel queue.
  await app.listen({ host: '127.0.0.1', port: listen.port ?? 0, backlog: 4096 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('fake-openai: unexpected listen address');

  return {
    url: `http://127.0.0.1:${address.port}/v1`,
    get stats() {
      return stats;
    },
    setBehavior,
    resetStats: () => {
      // Requests still open keep decrementing the old object, so carry their counts over.
      const inFlight = { ...stats.inFlight };
      stats = emptyStats();
      stats.inFlight = inFlight;
    },
    close: () => app.close(),
  };
}

/** ragd's environment for answering and embedding through the stand-in at `url` (384-dimensional vectors). */
export function fakeModelsEnv(url: string): Record<string, string> {
  return {
    RAGD_LLM_BASE_URL: url,
    RAGD_LLM_MODEL: 'fake-chat',
    RAGD_EMBED_BASE_URL: url,
    RAGD_EMBED_MODEL: 'fake-embed',
    RAGD_EMBED_DIM: '384',
  };
}

/**
 * Standalone, so a benchmark can keep the fake's CPU out of the process it measures:
 *   FAKE_OPENAI='{"tokenDelayMs":20}' node --import tsx test/support/fake-openai.ts [port]
 * prints the base URL and serves until SIGINT/SIGTERM.
 */
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const behavior = JSON.parse(process.env.FAKE_OPENAI ?? '{}') as Partial<FakeBehavior>;
  const server = await startFakeOpenAI(behavior, { port: Number(process.argv[2] ?? 0) });
  console.log(server.url);
  const stop = (): void => {
    console.error(JSON.stringify(server.stats.requests), `aborted=${server.stats.aborted}`);
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
