import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { AppError, sharedStateUnavailable } from '../../domain/errors.js';
import type { RateLimiterFactory } from '../../ports/limits.js';
import type { TenantLimits, TenantLimitsSource } from '../../ports/tenant-limits.js';
import type { Release, TenantAdmission } from '../../services/limits/tenant-admission.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What a request of this route holds open while it runs, counted against the tenant's limit. */
    tenantLimit?: 'query' | 'event_stream';
    /** `false` opts a route out of every tenant budget (operator probes, the console's static files). */
    tenantLimited?: boolean;
  }
}

/**
 * The embedded server counts requests per minute in memory; a cluster passes
 * `redisRateLimiter` (src/adapters/cluster/redis), so every API node shares the count.
 */
export type { RateLimiterFactory };

export const memoryRateLimiter: RateLimiterFactory = (points) =>
  new RateLimiterMemory({ points, duration: 60, keyPrefix: `ragd:rpm:${points}` });

export interface TenantLimitsPluginOptions {
  source: TenantLimitsSource;
  /** Shared with the query-job runner, so sync, streaming and job queries count together. */
  queries: TenantAdmission;
  streams: TenantAdmission;
  rateLimiter?: RateLimiterFactory;
}

/**
 * Health, readiness and metrics belong to operators and load balancers, not to a tenant's budget.
 * The explicit opt-out list; a route may also opt out with `config.tenantLimited: false`.
 */
export const UNLIMITED_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Decided by the route that matched, never by the raw URL: the router decodes `/%761/kbs` to
 * `/v1/kbs`, so a prefix test on `request.url` is skipped by encoding the path. Every tenant
 * request is counted unless its route opted out — routes added later (`/v1/chat/completions`,
 * `/mcp`) included — and so is one that matched no route (its 404 costs the tenant too). Admin
 * requests carry no tenant and are not counted.
 */
function isTenantApi(request: FastifyRequest): boolean {
  if (request.tenantId === '') return false;
  const route = request.routeOptions.url;
  if (route === undefined) return true;
  return !UNLIMITED_ROUTES.has(route) && request.routeOptions.config?.tenantLimited !== false;
}

/**
 * Per-tenant limits on the HTTP surface, after the tenant plugin has set `request.tenantId`:
 * requests per minute (429 + Retry-After), and for routes marked with `config.tenantLimit`, the
 * queries or event streams a tenant holds open at once (429 + Retry-After). Limits are read from
 * the TenantLimitsSource on every request, so a changed setting applies at once. Upload quotas are
 * enforced where the bytes are counted: DocumentService.
 */
export const tenantLimitsPlugin: FastifyPluginAsync<TenantLimitsPluginOptions> = fp(
  async (app: FastifyInstance, opts: TenantLimitsPluginOptions) => {
    const factory = opts.rateLimiter ?? memoryRateLimiter;
    // One limiter per distinct limit value: RateLimiterAbstract has a fixed number of points.
    const limiters = new Map<number, RateLimiterAbstract>();
    const limiterFor = (rpm: number) => {
      let limiter = limiters.get(rpm);
      if (!limiter) limiters.set(rpm, (limiter = factory(rpm)));
      return limiter;
    };

    async function consume(request: FastifyRequest, reply: FastifyReply, rpm: number): Promise<void> {
      try {
        const res = await limiterFor(rpm).consume(request.tenantId);
        reply.header('x-ratelimit-limit', rpm).header('x-ratelimit-remaining', res.remainingPoints);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) {
          // The shared counter (Redis) did not answer: a quick 503 the client can retry, rather
          // than a hang, or a budget nobody enforces.
          request.log.warn({ err: rejection }, 'rate limiter unavailable');
          throw sharedStateUnavailable('requests-per-minute counter');
        }
        const seconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
        throw new AppError(429, 'rate_limited', `rate limit of ${rpm} requests per minute reached; retry in ${seconds} s`, {
          'retry-after': String(seconds),
          'x-ratelimit-limit': String(rpm),
          'x-ratelimit-remaining': '0',
        });
      }
    }

    /** Releases the slot when the exchange is over: the response ends, or the WebSocket closes. */
    function releaseWhenDone(request: FastifyRequest, reply: FastifyReply, release: Release): void {
      const ending = request.ws ? request.raw.socket : reply.raw;
      if (ending.destroyed) release();
      else ending.once('close', release);
    }

    // A callback hook: with the limits at hand and no per-minute limit (the common case) it
    // decides synchronously, without a promise per request.
    app.addHook('onRequest', (request, reply, done) => {
      if (!isTenantApi(request)) return done();
      const limits = opts.source.limitsAtHand?.(request.tenantId);
      if (limits) return enforce(request, reply, limits, done);
      opts.source.limitsFor(request.tenantId).then((read) => enforce(request, reply, read, done), done);
    });

    /** Requests per minute first (its counter may be remote: a promise), then the slot the route holds. */
    function enforce(request: FastifyRequest, reply: FastifyReply, limits: TenantLimits, done: HookHandlerDoneFunction): void {
      if (limits.requestsPerMinute === null) return holdSlot(request, reply, limits, done);
      consume(request, reply, limits.requestsPerMinute).then(() => holdSlot(request, reply, limits, done), done);
    }

    function holdSlot(request: FastifyRequest, reply: FastifyReply, limits: TenantLimits, done: HookHandlerDoneFunction): void {
      const held = request.routeOptions.config?.tenantLimit;
      if (!held) return done();
      let admitted: Release | Promise<Release>;
      try {
        admitted = (held === 'query' ? opts.queries : opts.streams).admitUnder(request.tenantId, limits);
      } catch (refusal) {
        return done(refusal as Error);
      }
      // A shared (cluster) counter answers with a promise; the embedded one at once.
      if (admitted instanceof Promise) {
        admitted.then((release) => {
          releaseWhenDone(request, reply, release);
          done();
        }, done);
        return;
      }
      releaseWhenDone(request, reply, admitted);
      // Outside the try: done() runs the next hooks, whose errors are not this hook's refusal.
      done();
    }
  },
  { name: 'ragd-tenant-limits', fastify: '5.x', dependencies: ['ragd-tenant'] },
);
