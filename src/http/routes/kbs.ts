import type { OcrMode } from '../../domain/types.js';
import type { KbRecord } from '../../ports/store.js';
import type { RoutePlugin } from '../app.js';
import { CreateKbBody, errorResponses, KbListResponse, KbParams, KbViewSchema, NoContent, type KbView } from '../schemas.js';

/** The public shape of a knowledge base (snake_case, no tenant). */
export function toKbView(kb: KbRecord): KbView {
  return {
    id: kb.id,
    name: kb.name,
    embedder: kb.embedder,
    embed_dim: kb.embedDim,
    ocr: kb.ocr,
    version: kb.version,
    created_at: kb.createdAt,
  };
}

export const kbRoutes: RoutePlugin = async (app, { services }) => {
  const { kbs } = services;

  app.post<{ Body: CreateKbBody }>(
    '/v1/kbs',
    { schema: { tags: ['kbs'], summary: 'Create a knowledge base', body: CreateKbBody, response: { 201: KbViewSchema, ...errorResponses } } },
    async (request, reply) => {
      const input: { id: string; name?: string; ocr?: OcrMode } = { id: request.body.id };
      if (request.body.name !== undefined) input.name = request.body.name;
      if (request.body.ocr !== undefined) input.ocr = request.body.ocr;
      const kb = await kbs.create(request.tenantId, input);
      return reply.code(201).send(toKbView(kb));
    },
  );

  app.get('/v1/kbs', { schema: { tags: ['kbs'], summary: 'List knowledge bases', response: { 200: KbListResponse, ...errorResponses } } }, async (request) => {
    const list = await kbs.list(request.tenantId);
    return { kbs: list.map(toKbView) };
  });

  // Not in the PRODUCT table, but KbService.get exists and a client checking one KB should not
  // have to list them all.
  app.get<{ Params: KbParams }>(
    '/v1/kbs/:kb',
    { schema: { tags: ['kbs'], summary: 'Read one knowledge base', params: KbParams, response: { 200: KbViewSchema, ...errorResponses } } },
    async (request) => toKbView(await kbs.get({ tenantId: request.tenantId, kbId: request.params.kb })),
  );

  app.delete<{ Params: KbParams }>(
    '/v1/kbs/:kb',
    { schema: { tags: ['kbs'], summary: 'Delete a knowledge base and everything in it', params: KbParams, response: { 204: NoContent, ...errorResponses } } },
    async (request, reply) => {
      await kbs.delete({ tenantId: request.tenantId, kbId: request.params.kb });
      return reply.code(204).send();
    },
  );
};
