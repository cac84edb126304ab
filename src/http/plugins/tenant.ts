import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant every service call of this request is scoped to. Set before routing. */
    tenantId: string;
  }
}

export const DEFAULT_TENANT = 'default';

/**
 * THE place where a request's tenant is decided. Until authentication lands every request
 * belongs to the `default` tenant; the auth work replaces this function (API key → tenant,
 * 401 when missing) and nothing else in the HTTP layer has to change.
 */
export async function resolveTenant(_request: FastifyRequest): Promise<string> {
  return DEFAULT_TENANT;
}

/** Decorates `request.tenantId` for every route registered after it (fastify-plugin: not encapsulated). */
export const tenantPlugin: FastifyPluginAsync = fp(
  async (app) => {
    app.decorateRequest('tenantId', '');
    app.addHook('onRequest', async (request) => {
      request.tenantId = await resolveTenant(request);
    });
  },
  { name: 'ragd-tenant', fastify: '5.x' },
);
