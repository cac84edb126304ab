import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../../domain/errors.js';
import { AuthError, DEFAULT_TENANT, type Authenticator, type Principal } from '../../services/auth-service.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant every service call of this request is scoped to ('' on admin and public routes). */
    tenantId: string;
    /** Who the credentials say this request is; null on public routes. */
    principal: Principal | null;
  }
}

export { DEFAULT_TENANT };

/** Liveness, readiness and metrics stay reachable without credentials (probes, scrapers). */
const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

type Access = 'public' | 'admin' | 'tenant';

function accessOf(url: string): Access {
  const path = url.split('?', 1)[0]!;
  if (PUBLIC_PATHS.has(path)) return 'public';
  return path === '/v1/admin' || path.startsWith('/v1/admin/') ? 'admin' : 'tenant';
}

const unauthorized = (message: string) => new AppError(401, 'unauthorized', message, { 'www-authenticate': 'Bearer' });

/**
 * THE place where a request's tenant is decided: from its credentials, never from server
 * configuration. Admin routes need the admin credential, every other route a tenant credential;
 * a credential of one kind opens nothing of the other (401). Across tenants, scoping every
 * lookup by `tenantId` makes another tenant's resources answer 404, as if they did not exist.
 */
export async function resolveTenant(request: FastifyRequest, auth: Authenticator): Promise<void> {
  const access = accessOf(request.url);
  if (access === 'public') return;
  let principal: Principal;
  try {
    principal = await auth.authenticate(request.headers.authorization);
  } catch (err) {
    if (err instanceof AuthError) throw unauthorized(err.message);
    throw err;
  }
  if (access === 'admin' && principal.kind !== 'admin') {
    throw unauthorized(
      auth.open
        ? 'the admin API needs an admin credential: set RAGD_ADMIN_KEY or run `ragd admin init`, then restart'
        : 'this credential does not grant admin access',
    );
  }
  if (access === 'tenant' && principal.kind !== 'tenant') throw unauthorized('the admin key is not a tenant key: use a tenant API key');
  request.principal = principal;
  if (principal.kind === 'tenant') request.tenantId = principal.tenantId;
  // Every later log line of this request names the tenant and key prefix, never the key.
  request.log = request.log.child({
    ...(principal.kind === 'tenant' ? { tenant: principal.tenantId } : { admin: true }),
    ...(principal.keyPrefix ? { key: principal.keyPrefix } : {}),
  });
}

/** Decorates `request.tenantId` for every route registered after it (fastify-plugin: not encapsulated). */
const plugin: FastifyPluginAsync<{ auth: Authenticator }> = async (app, { auth }) => {
  app.decorateRequest('tenantId', '');
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    await resolveTenant(request, auth);
  });
};

export const tenantPlugin = fp(plugin, { name: 'ragd-tenant', fastify: '5.x' });
