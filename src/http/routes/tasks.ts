import type { TaskView } from '../../domain/types.js';
import type { RoutePlugin } from '../app.js';
import { errorResponses, eventStream, TaskParams, TaskViewSchema } from '../schemas.js';
import { openSse, type SseStream } from '../sse.js';

const isFinal = (t: TaskView) => t.status === 'succeeded' || t.status === 'failed';

export const taskRoutes: RoutePlugin = async (app, { services, timing }) => {
  const { tasks } = services;

  app.get<{ Params: TaskParams }>(
    '/v1/tasks/:id',
    { schema: { tags: ['tasks'], summary: 'A task\'s current state', params: TaskParams, response: { 200: TaskViewSchema, ...errorResponses } } },
    async (request) => tasks.get(request.tenantId, request.params.id),
  );

  /**
   * Progress as Server-Sent Events: `event: task` with `id: <version>` for the current state and
   * then every change, `event: end` after the final state, then the stream closes.
   */
  // No HEAD twin: a HEAD request would open a stream that never sends a body and never ends.
  const eventsSchema = {
    tags: ['tasks'],
    summary: 'A task\'s progress as Server-Sent Events',
    params: TaskParams,
    response: { 200: eventStream('`task` events (id: version), current state first, then `end`'), ...errorResponses },
  };
  app.get<{ Params: TaskParams }>('/v1/tasks/:id/events', { schema: eventsSchema, exposeHeadRoute: false, config: { tenantLimit: 'event_stream', streamTicket: true } }, async (request, reply) => {
    const taskId = request.params.id;
    let sse: SseStream | null = null;
    // follow() may deliver the current state before it resolves, i.e. before the stream exists.
    const early: TaskView[] = [];
    let lastVersion = -Infinity;
    let ended = false;

    const deliver = (t: TaskView) => {
      if (sse === null) {
        early.push(t);
        return;
      }
      // The snapshot and a change racing it can arrive in either order; versions are monotonic
      // per task, so anything not newer than what was sent is stale.
      if (ended || t.version <= lastVersion) return;
      lastVersion = t.version;
      void sse.send('task', t, t.version);
      if (isFinal(t)) {
        ended = true;
        void sse.send('end', { id: t.id, status: t.status });
        sse.close();
      }
    };

    // Throws 404 (and anything else) while the reply is still a normal JSON reply.
    const unsubscribe = await tasks.follow(request.tenantId, taskId, deliver);

    const stream = openSse(reply);
    sse = stream;
    const ping = setInterval(() => void stream.comment('ping'), timing.ssePingMs);
    stream.onClose(() => {
      clearInterval(ping);
      unsubscribe();
    });
    for (const t of early.splice(0)) deliver(t);
  });
};
