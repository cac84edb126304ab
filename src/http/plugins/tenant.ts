import type { Logger } from 'pino';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../../domain/errors.js';
import { keyPrefixOf } from '../../services/api-keys.js';
import { AuthError, DEFAULT_TENANT, type Authenticator, type Principal } from '../../services/auth-service.js';
import type { StreamTickets } from '../../services/stream-tickets.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** An event stream (SSE/WebSocket) that browsers open with `?ticket=` (see stream-tickets.ts) instead of a header. */
    streamTicket?: boolean;
  }
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

/**
 * By the route that matched, not the raw URL: the router decodes the path, so a raw-URL test is
 * fooled by `/v1/%61dmin/…`. A request that matched no route needs a tenant credential (its 404
 * then says nothing to the unauthenticated).
 */
function accessOf(request: FastifyRequest): Access {
  const route = request.routeOptions.url;
  if (route === undefined) return 'tenant';
  if (PUBLIC_PATHS.has(route) || request.routeOptions.config?.public === true) return 'public';
  return route === '/v1/admin' || route.startsWith('/v1/admin/') ? 'admin' : 'tenant';
}

const unauthorized = (message: string) => new AppError(401, 'unauthorized', message, { 'www-authenticate': 'Bearer' });

/**
 * THE place where a request's tenant is decided: from its credentials, never from server
 * configuration. Admin routes need the admin credential, every other route a tenant credential;
 * a credential of one kind opens nothing of the other (401). Across tenants, scoping every
 * lookup by `tenantId` makes another tenant's resources answer 404, as if they did not exist.
 *
 * Synchronous when the credentials need no I/O (open mode); otherwise returns a promise.
 */
export function resolveTenant(request: FastifyRequest, auth: Authenticator, tickets?: StreamTickets): Promise<void> | undefined {
  const access = accessOf(request);
  if (access === 'public') return undefined;
  const ticket = ticketOf(request);
  if (ticket !== undefined) {
    const redeemed = tickets ? tickets.redeem(ticket) : null;
    // A store every node shares (cluster) answers with a promise; the embedded one at once.
    if (redeemed instanceof Promise) return redeemed.then((principal) => admitTicket(request, access, principal, auth));
    return void admitTicket(request, access, redeemed, auth);
  }
  const found = auth.authenticate(request.headers.authorization);
  if (!(found instanceof Promise)) return void admit(request, access, found, auth);
  return found.then(
    (principal) => admit(request, access, principal, auth),
    (err: unknown) => {
      if (!(err instanceof AuthError)) throw err;
      // A revoked or mistyped ragd key is traced by its public prefix; nothing else is logged.
      const attempted = keyPrefixOf((request.headers.authorization ?? '').replace(/^Bearer +/i, '').trim());
      request.log.info({ ...(attempted ? { key: attempted } : {}), reason: err.message }, 'credentials refused');
      throw unauthorized(err.message);
    },
  );
}

function admitTicket(request: FastifyRequest, access: 'admin' | 'tenant', principal: Principal | null, auth: Authenticator): void {
  if (!principal) throw unauthorized('invalid, expired or already used stream ticket');
  admit(request, access, principal, auth);
}

/** The `?ticket=` of an event-stream route asked without an Authorization header. */
function ticketOf(request: FastifyRequest): string | undefined {
  if (request.routeOptions.config?.streamTicket !== true || request.headers.authorization !== undefined) return undefined;
  const ticket = (request.query as { ticket?: unknown } | undefined)?.ticket;
  return typeof ticket === 'string' ? ticket : undefined;
}

/** Checks the credential's kind against the route's access and binds the request to it. */
function admit(request: FastifyRequest, access: 'admin' | 'tenant', principal: Principal, auth: Authenticator): void {
  if (access === 'admin' && principal.kind !== 'admin') {
    throw unauthorized(
      auth.open
        ? 'the admin API needs an admin credential: run `ragd admin init`, or set RAGD_ADMIN_KEY and restart'
        : 'this credential does not grant admin access',
    );
  }
  if (access === 'tenant' && principal.kind !== 'tenant') throw unauthorized('the admin key is not a tenant key: use a tenant API key');
  request.principal = principal;
  if (principal.kind === 'tenant') request.tenantId = principal.tenantId;
  // Every later log line of this request names the tenant and key prefix, never the key. Bound
  // in place on the request's own logger: a second child logger per request costs a measurable
  // share of a cached answer's CPU.
  // (Fastify makes that logger per request; without a logger it is a shared no-op one.)
  const log = request.log as Partial<Pick<Logger, 'setBindings'>>;
  log.setBindings?.(logBindingsOf(principal));
}

/** What a request's log lines say about who made it: the tenant (or admin) and key prefix. */
function logBindingsOf(principal: Principal): Record<string, unknown> {
  const bindings: Record<string, unknown> = principal.kind === 'tenant' ? { tenant: principal.tenantId } : { admin: true };
  if (principal.keyPrefix) bindings.key = principal.keyPrefix;
  return bindings;
}

/** Decorates `request.tenantId` for every route registered after it (fastify-plugin: not encapsulated). */
const plugin: FastifyPluginAsync<{ auth: Authenticator; tickets?: StreamTickets }> = async (app, { auth, tickets }) => {
  app.decorateRequest('tenantId', '');
  app.decorateRequest('principal', null);
  // A callback hook: in open mode (and on public routes) the tenant is known without a promise.
  app.addHook('onRequest', (request, _reply, done) => {
    let pending: Promise<void> | undefined;
    try {
      pending = resolveTenant(request, auth, tickets);
    } catch (refusal) {
      return done(refusal as Error);
    }
    if (pending) pending.then(() => done(), done);
    else done();
  });
};

export const tenantPlugin = fp(plugin, { name: 'ragd-tenant', fastify: '5.x' });
