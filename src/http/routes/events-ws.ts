import type { WebSocket } from 'ws';
import { AppError } from '../../domain/errors.js';
import type { TaskView } from '../../domain/types.js';
import type { RoutePlugin } from '../app.js';
import { errorResponses, KbParams } from '../schemas.js';

/** Close codes in the 4000-4999 range are ours; 4404 mirrors HTTP 404. */
export const WS_CLOSE_NOT_FOUND = 4404;
/** A client this far behind is disconnected rather than buffered for without bound. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/**
 * A live feed of every task event of one KB (dashboards): `{type:'hello', kb}` on connect, then
 * `{type:'task', task}` per change. Client messages are ignored.
 */
export const eventsWsRoutes: RoutePlugin = async (app, { services, timing }) => {
  const { tasks } = services;

  app.get<{ Params: KbParams }>(
    '/v1/kbs/:kb/events',
    {
      websocket: true,
      // @fastify/websocket hides WebSocket routes from the OpenAPI document; this one is API.
      config: { tenantLimit: 'event_stream', streamTicket: true, swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, hide: false }, url }) },
      schema: {
        tags: ['tasks'],
        summary: 'WebSocket: every task event of a knowledge base (`hello`, then `task` per change)',
        params: KbParams,
        response: { 101: { description: 'switching to the WebSocket protocol', type: 'null' }, ...errorResponses },
      },
    },
    async (socket: WebSocket, request) => {
      const kb = request.params.kb;
      let open = true;
      let unsubscribe: (() => void) | null = null;
      let ping: NodeJS.Timeout | undefined;
      // followKb may deliver before 'hello' has gone out; hold those events until it has.
      let early: TaskView[] | null = [];

      const send = (message: unknown) => {
        if (socket.readyState !== socket.OPEN) return;
        if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
          request.log.warn({ kb }, 'websocket client is not reading; closing');
          socket.close(1013, 'client too slow');
          return;
        }
        socket.send(JSON.stringify(message));
      };

      socket.on('close', () => {
        open = false;
        clearInterval(ping);
        unsubscribe?.();
      });

      try {
        unsubscribe = await tasks.followKb({ tenantId: request.tenantId, kbId: kb }, (task) => {
          if (early) early.push(task);
          else send({ type: 'task', task });
        });
      } catch (err) {
        if (err instanceof AppError && err.status === 404) {
          socket.close(WS_CLOSE_NOT_FOUND, 'knowledge base not found');
        } else {
          request.log.error({ err }, 'websocket subscription failed');
          socket.close(1011, 'internal error');
        }
        return;
      }
      if (!open) {
        // The client left while we were subscribing.
        unsubscribe();
        return;
      }

      send({ type: 'hello', kb });
      for (const task of early) send({ type: 'task', task });
      early = null;
      // Keeps idle connections alive through proxies that cut silent sockets.
      ping = setInterval(() => {
        if (socket.readyState === socket.OPEN) socket.ping();
      }, timing.wsPingMs);
    },
  );
};
