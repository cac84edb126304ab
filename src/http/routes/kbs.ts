import type { KbRecord } from '../../ports/store.js';
import type { RoutePlugin } from '../app.js';
import { CreateKbBody, KbListResponse, KbParams, KbViewSchema, type KbView } from '../schemas.js';

/** The public shape of a knowledge base (snake_case, no tenant). */
export function toKbView(kb: KbRecord): KbView {
  return {
    id: kb.id,
    name: kb.name,
    embedder: kb.embedder,
    embed_dim: kb.embedDim,
    version: kb.version,
    created_at: kb.createdAt,
  };
}

export const kbRoutes: RoutePlugin = async (app, { services }) => {
  const { kbs } = services;

  app.post<{ Body: CreateKbBody }>(
    '/v1/kbs',
    { schema: { body: CreateKbBody, response: { 201: KbViewSchema } } },
    async (request, reply) => {
      const input: { id: string; name?: string } = { id: request.body.id };
      if (request.body.name !== undefined) input.name = request.body.name;
      const kb = await kbs.create(request.tenantId, input);
      return reply.code(201).send(toKbView(kb));
    },
  );

  app.get('/v1/kbs', { schema: { response: { 200: KbListResponse } } }, async (request) => {
    const list = await kbs.list(request.tenantId);
    return { kbs: list.map(toKbView) };
  });

  // Not in the PRODUCT table, but KbService.get exists and a client checking one KB should not
  // have to list them all.
  app.get<{ Params: KbParams }>(
    '/v1/kbs/:kb',
    { schema: { params: KbParams, response: { 200: KbViewSchema } } },
    async (request) => toKbView(await kbs.get({ tenantId: request.tenantId, kbId: request.params.kb })),
  );

  app.delete<{ Params: KbParams }>('/v1/kbs/:kb', { schema: { params: KbParams } }, async (request, reply) => {
    await kbs.delete({ tenantId: request.tenantId, kbId: request.params.kb });
    return reply.code(204).send();
  });
};
