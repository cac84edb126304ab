import { Type } from '@sinclair/typebox';
import type { RoutePlugin } from '../app.js';
import { errorResponses, NoBody } from '../schemas.js';

const TicketResponse = Type.Object(
  { ticket: Type.String(), expires_in: Type.Integer({ description: 'seconds' }) },
  { description: 'pass as `?ticket=` when opening an event stream (WebSocket or EventSource); valid once' },
);

/**
 * `POST /v1/stream-tickets`: trades the caller's credentials for a single-use ticket that opens one
 * event stream of the same tenant (see services/stream-tickets.ts: browsers cannot put headers on
 * EventSource or WebSocket).
 */
export const streamTicketRoutes: RoutePlugin = async (app, { services }) => {
  const tickets = services.tickets!;
  app.post(
    '/v1/stream-tickets',
    { schema: { tags: ['tasks'], summary: 'Mint a single-use ticket for opening an event stream from a browser', body: NoBody, response: { 201: TicketResponse, ...errorResponses } } },
    async (request, reply) => reply.code(201).send(await tickets.mint(request.principal!)),
  );
};
