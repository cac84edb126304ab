import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Scope } from '../../../domain/types.js';
import type { QueryService } from '../../../services/query/query-service.js';
import { type Citation, DEFAULT_TOP_K, type QueryRequest, type QueryResult } from '../../../services/query/types.js';
import type { HttpTiming, RoutePlugin } from '../../app.js';
import { describeError } from '../../plugins/errors.js';
import { eventStream } from '../../schemas.js';
import { openSse } from '../../sse.js';
import { AbortOnDisconnect } from '../query.js';
import { openAiError, useOpenAiErrors } from './errors.js';
import { modelIdsOf, readQuestion, resolveModel } from './messages.js';
import { ChatCompletion, ChatCompletionBody, ModelList, openAiErrorResponses } from './schemas.js';

/**
 * The OpenAI-compatible surface: `GET /v1/models` (the caller's knowledge bases) and
 * `POST /v1/chat/completions` (a question to one of them). A thin translation: the answer comes
 * from the same QueryService call as `POST /v1/kbs/{kb}/query`, behind the same authentication,
 * tenant scoping, rate limits, query slots, answer cache and provider lanes. Only the wire shapes
 * (and the error envelope, set for this plugin's context alone) are OpenAI's.
 */

const JSON_BODY = 'application/json; charset=utf-8';
const unix = (iso: string) => Math.floor(Date.parse(iso) / 1000) || 0;

/** `[n]` in the answer is `citations[n-1]`: the number is written out for clients that show the list. */
const numbered = (citations: readonly Citation[]) =>
  citations.map((c, i) => ({ n: i + 1, document_id: c.document_id, document_name: c.document_name, chunk_id: c.chunk_id, text: c.text, score: c.score, page: c.page }));

interface Completion {
  id: string;
  created: number;
  model: string;
}

function completionBody(c: Completion, result: QueryResult): string {
  return JSON.stringify({
    id: c.id,
    object: 'chat.completion',
    created: c.created,
    model: c.model,
    choices: [{ index: 0, message: { role: 'assistant', content: result.answer ?? '' }, finish_reason: 'stop', logprobs: null }],
    citations: numbered(result.citations),
    answer_kind: result.answer_kind,
    ...(result.notice ? { notice: result.notice } : {}),
  });
}

function chunk(c: Completion, delta: object, finish: 'stop' | null, extra: object = {}): string {
  return JSON.stringify({
    id: c.id,
    object: 'chat.completion.chunk',
    created: c.created,
    model: c.model,
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    ...extra,
  });
}

/**
 * The answer as OpenAI streams it: a role chunk, a chunk per piece of text, a last chunk with
 * `finish_reason: "stop"` and the citations, then `data: [DONE]`. Closing the connection aborts
 * the query, the model call included.
 */
async function streamCompletion(svc: QueryService, scope: Scope, req: QueryRequest, c: Completion, request: FastifyRequest, reply: FastifyReply, timing: HttpTiming) {
  const sse = openSse(reply, { finishOnShutdown: true });
  const controller = new AbortController();
  sse.onClose(() => controller.abort(new Error('client disconnected')));
  const ping = setInterval(() => void sse.comment('ping'), timing.ssePingMs);
  void sse.data(chunk(c, { role: 'assistant', content: '' }, null));
  try {
    const result = await svc.run(scope, req, {
      signal: controller.signal,
      requestId: String(request.id),
      onToken: (text) => void sse.data(chunk(c, { content: text }, null)),
    });
    const extra = { citations: numbered(result.citations), answer_kind: result.answer_kind, ...(result.notice ? { notice: result.notice } : {}) };
    await sse.data(chunk(c, {}, 'stop', extra));
    await sse.data('[DONE]');
  } catch (err) {
    if (!controller.signal.aborted) {
      const d = describeError(err);
      if (d.internal) request.log.error({ err }, 'streamed chat completion failed');
      else request.log.warn({ code: d.code }, d.message);
      // OpenAI's clients raise an error event as an APIError.
      await sse.data(JSON.stringify(openAiError(d)));
    }
  } finally {
    clearInterval(ping);
    sse.close();
  }
}

export const openAiRoutes =
  (query: QueryService): RoutePlugin =>
  async (app, { services, timing }) => {
    useOpenAiErrors(app);

    app.get(
      '/v1/models',
      { schema: { tags: ['openai'], summary: 'OpenAI-compatible: the knowledge bases this credential can ask, as models', response: { 200: ModelList, ...openAiErrorResponses } } },
      async (request) => {
        const kbs = await services.kbs.list(request.tenantId);
        return {
          object: 'list' as const,
          data: kbs.flatMap((kb) => modelIdsOf(kb).map(({ id, name }) => ({ id, object: 'model' as const, created: unix(kb.createdAt), owned_by: 'ragd', name }))),
        };
      },
    );

    app.post<{ Body: ChatCompletionBody }>(
      '/v1/chat/completions',
      {
        config: { admission: 'query', tenantLimit: 'query' },
        schema: {
          tags: ['openai'],
          summary: 'OpenAI-compatible chat over a knowledge base (`model` = KB id or name); `stream: true` streams chunks',
          body: ChatCompletionBody,
          response: {
            200: {
              description: 'the cited answer, or with `stream: true` `chat.completion.chunk` events and `data: [DONE]`',
              content: {
                'application/json': { schema: ChatCompletion },
                'text/event-stream': eventStream('chat.completion.chunk…, data: [DONE]').content['text/event-stream'],
              },
            },
            ...openAiErrorResponses,
          },
        },
      },
      async (request, reply) => {
        const { question, history } = readQuestion(request.body);
        // Everything that can fail as a plain JSON error (unknown model) fails before a stream opens.
        const { kb, mode } = resolveModel(request.body.model, await services.kbs.list(request.tenantId));
        const scope = { tenantId: request.tenantId, kbId: kb.id };
        const req: QueryRequest = { query: question, mode, topK: DEFAULT_TOP_K, onlyContext: false, ...(history.length > 0 ? { history } : {}) };
        const c: Completion = { id: `chatcmpl-${randomUUID()}`, created: Math.floor(Date.now() / 1000), model: request.body.model };
        if (request.body.stream) return streamCompletion(query, scope, req, c, request, reply, timing);
        try {
          const result = await query.run(scope, req, new AbortOnDisconnect(reply, String(request.id)));
          return reply.type(JSON_BODY).send(completionBody(c, result));
        } catch (err) {
          if (reply.raw.destroyed || reply.raw.socket?.destroyed === true) {
            request.log.debug('chat completion abandoned: the client disconnected');
            return reply.hijack();
          }
          throw err;
        }
      },
    );
  };
