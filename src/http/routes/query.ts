import type { FastifyReply, FastifyRequest } from 'fastify';
import { badRequest } from '../../domain/errors.js';
import type { Scope } from '../../domain/types.js';
import type { SearchFilter } from '../../ports/store.js';
import type { QueryService } from '../../services/query/query-service.js';
import type { QueryJobProducer } from '../../ports/query-jobs.js';
import { DEFAULT_TOP_K, MAX_QUERY_CHARS, type QueryHooks, type QueryRequest } from '../../services/query/types.js';
import type { HttpTiming, RoutePlugin } from '../app.js';
import { errorMessage } from '../../domain/messages.js';
import { describeError, requestLanguage } from '../plugins/errors.js';
import { errorResponses, eventStream, KbParams } from '../schemas.js';
import { openSse } from '../sse.js';
import { answerJson } from './answer-json.js';
import { QueryBody, QueryResponse, RetrieveAccepted, RetrieveBody } from './query-schemas.js';

/** What Fastify's serializer would have labelled the body. */
const JSON_BODY = 'application/json; charset=utf-8';

export interface QueryRouteDeps {
  query: QueryService;
  jobs: QueryJobProducer;
}

/** Body → service request. Length is checked here so it gets its own code. */
function toRequest(body: RetrieveBody): QueryRequest {
  if (body.query.length > MAX_QUERY_CHARS && [...body.query].length > MAX_QUERY_CHARS) {
    throw badRequest(`query is longer than ${MAX_QUERY_CHARS} characters`, 'query_too_long');
  }
  if (body.query.trim() === '') throw badRequest('query must not be blank');
  const filter: SearchFilter = {};
  if (body.filter?.document_ids) filter.documentIds = body.filter.document_ids;
  if (body.filter?.metadata) {
    for (const [key, value] of Object.entries(body.filter.metadata)) {
      const t = typeof value;
      if (t !== 'string' && t !== 'number' && t !== 'boolean') {
        throw badRequest(`body.filter.metadata.${key} must be a string, number or boolean`);
      }
    }
    filter.metadata = body.filter.metadata;
  }
  return {
    query: body.query,
    mode: body.mode ?? 'hybrid',
    topK: body.top_k ?? DEFAULT_TOP_K,
    onlyContext: body.only_context ?? false,
    ...(body.explain ? { explain: true } : {}),
    ...(filter.documentIds || filter.metadata ? { filter } : {}),
  };
}

/**
 * Hooks whose signal fires when the client goes away before the response is complete (the answer
 * is then wasted work). The signal is made on first use: a cache hit never asks for it, and an
 * AbortSignal per request is a measurable share of a cached answer's cost. (A class, so a request
 * costs one small object rather than an object literal with its own accessor.)
 */
export class AbortOnDisconnect implements QueryHooks {
  private controller: AbortController | null = null;

  constructor(
    private readonly reply: FastifyReply,
    readonly requestId: string,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      const c = (this.controller = new AbortController());
      const res = this.reply.raw;
      if (res.destroyed || res.socket?.destroyed === true) c.abort(new Error('client disconnected'));
      res.once('close', () => {
        if (!res.writableFinished) c.abort(new Error('client disconnected'));
      });
    }
    return this.controller.signal;
  }
}

/**
 * The answer as Server-Sent Events: `context` (citations, pending documents) as soon as retrieval
 * is done, `token` per generated piece, then `done` with timings — or `error`. Closing the
 * connection aborts the upstream model call at once.
 */
async function streamAnswer(svc: QueryService, scope: Scope, req: QueryRequest, request: FastifyRequest, reply: FastifyReply, timing: HttpTiming) {
  // Everything that can fail as a plain JSON error (unknown KB) fails before the stream opens.
  await svc.assertKb(scope);
  const sse = openSse(reply, { finishOnShutdown: true });
  const controller = new AbortController();
  sse.onClose(() => controller.abort(new Error('client disconnected')));
  const ping = setInterval(() => void sse.comment('ping'), timing.ssePingMs);
  try {
    const result = await svc.run(scope, req, {
      signal: controller.signal,
      requestId: String(request.id),
      onContext: (ctx) => void sse.send('context', ctx),
      onToken: (text) => void sse.send('token', { text }),
    });
    await sse.send('done', {
      answer: result.answer,
      answer_kind: result.answer_kind,
      cached: result.cached,
      timings_ms: result.timings_ms,
      ...(result.notice ? { notice: result.notice } : {}),
    });
  } catch (err) {
    if (!controller.signal.aborted) {
      const d = describeError(err);
      if (d.internal) request.log.error({ err }, 'streamed query failed');
      else request.log.warn({ code: d.code }, d.message);
      await sse.send('error', { code: d.code, message: errorMessage(d.code, d.message, req.lang ?? 'en') });
    }
  } finally {
    clearInterval(ping);
    sse.close();
  }
}

export const queryRoutes =
  (deps: QueryRouteDeps): RoutePlugin =>
  async (app, { timing }) => {
    app.post<{ Params: KbParams; Body: QueryBody }>(
      '/v1/kbs/:kb/query',
      {
        config: { admission: 'query', tenantLimit: 'query' },
        schema: {
          tags: ['query'],
          summary: 'Ask a question; with `stream: true` the answer comes as Server-Sent Events',
          params: KbParams,
          body: QueryBody,
          response: {
            200: {
              description: 'the answer, or with `stream: true` the events `context`, `token`…, `done` (or `error`)',
              content: {
                'application/json': { schema: QueryResponse },
                'text/event-stream': eventStream('context, token…, done').content['text/event-stream'],
              },
            },
            ...errorResponses,
          },
        },
      },
      async (request, reply) => {
        const scope = { tenantId: request.tenantId, kbId: request.params.kb };
        const req = { ...toRequest(request.body), lang: requestLanguage(request) };
        if (request.body.stream) return streamAnswer(deps.query, scope, req, request, reply, timing);
        try {
          const result = await deps.query.run(scope, req, new AbortOnDisconnect(reply, String(request.id)));
          // A string with a JSON content type is sent as it is: the schema serializer is skipped
          // (see answer-json.ts for why).
          return reply.type(JSON_BODY).send(answerJson(result));
        } catch (err) {
          // The client hung up and the work was cancelled: nobody is left to answer.
          if (reply.raw.destroyed || reply.raw.socket?.destroyed === true) {
            request.log.debug('query abandoned: the client disconnected');
            return reply.hijack();
          }
          throw err;
        }
      },
    );

    app.post<{ Params: KbParams; Body: RetrieveBody }>(
      '/v1/kbs/:kb/retrieve',
      { schema: { tags: ['query'], summary: 'Run a query as a job; the answer lands in the task\'s result', params: KbParams, body: RetrieveBody, response: { 202: RetrieveAccepted, ...errorResponses } } },
      async (request, reply) => {
        const scope = { tenantId: request.tenantId, kbId: request.params.kb };
        const task = await deps.jobs.submit(scope, { ...toRequest(request.body), lang: requestLanguage(request) }, String(request.id));
        return reply.code(202).header('location', `/v1/tasks/${task.id}`).send({ task_id: task.id });
      },
    );
  };
