import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type pino from 'pino';
import type { Config } from '../config/config.js';
import type { DocumentService } from '../services/document-service.js';
import { OPEN_AUTH, type Authenticator } from '../services/auth-service.js';
import { StreamTickets } from '../services/stream-tickets.js';
import type { HealthCheck } from '../services/health.js';
import type { KbService } from '../services/kb-service.js';
import type { TaskService } from '../services/task-service.js';
import type { TenantLimitsSource } from '../ports/tenant-limits.js';
import { ServerDefaultLimits } from '../services/limits/server-default-limits.js';
import { QUERY_ADMISSION, STREAM_ADMISSION, TenantAdmission } from '../services/limits/tenant-admission.js';
import { clientErrorHandler, frameworkErrors } from './plugins/framework-errors.js';
import { memoryRateLimiter, tenantLimitsPlugin, type RateLimiterFactory } from './plugins/tenant-limits.js';
import type { Admission } from '../services/admission.js';
import { backpressurePlugin } from './plugins/backpressure.js';
import { drainingPlugin } from './plugins/draining.js';
import { serverTimeouts, slowClientsPlugin } from './plugins/slow-clients.js';
import { errorsPlugin } from './plugins/errors.js';
import { registerOpenApi } from './plugins/openapi.js';
import { openModeGuardPlugin } from './plugins/open-mode-guard.js';
import { tenantPlugin } from './plugins/tenant.js';
import { utf8JsonPlugin } from './plugins/utf8-json.js';
import { documentActionRoutes } from './routes/document-actions.js';
import { documentRoutes } from './routes/documents.js';
import { eventsWsRoutes } from './routes/events-ws.js';
import { healthRoutes } from './routes/health.js';
import { kbRoutes } from './routes/kbs.js';
import { streamTicketRoutes } from './routes/stream-tickets.js';
import { taskRoutes } from './routes/tasks.js';
import { requestLoggerFactory } from './request-logger.js';
import { closeAllSse } from './sse.js';

/** What the HTTP layer needs from the rest of the server. */
export interface HttpServices {
  kbs: KbService;
  documents: DocumentService;
  tasks: TaskService;
  health: HealthCheck[];
  /** Backpressure bounds; without them no route is limited (tests of the bare HTTP layer). */
  admission?: Admission;
  /** Decides each request's tenant from its credentials; absent = open mode (`default` tenant). */
  auth?: Authenticator;
  /** Tickets for browser event streams; buildHttpApp makes the process's own when absent. */
  tickets?: StreamTickets;
}

/** Intervals of the long-lived responses; tests shorten them. */
export interface HttpTiming {
  /** `: ping` comment on SSE streams, so proxies do not cut idle streams. */
  ssePingMs: number;
  /** WebSocket ping frame interval. */
  wsPingMs: number;
  /** Budget of each /readyz dependency check. */
  readyTimeoutMs: number;
}

export const DEFAULT_TIMING: HttpTiming = { ssePingMs: 15_000, wsPingMs: 15_000, readyTimeoutMs: 2_000 };

/** Handed to every route plugin as its options. */
export interface RouteContext {
  config: Config;
  services: HttpServices;
  timing: HttpTiming;
}

/**
 * A route plugin. Each is registered in its own encapsulated context with the RouteContext as
 * options. A plugin that needs more than HttpServices (query, admin, metrics) can be a closure:
 * `const queryRoutes = (svc: QueryService): RoutePlugin => async (app) => { … }`.
 */
export type RoutePlugin = FastifyPluginAsync<RouteContext>;

/** The v1 ingestion routes, in registration order. */
export const routes: readonly RoutePlugin[] = [healthRoutes, kbRoutes, documentRoutes, documentActionRoutes, taskRoutes, eventsWsRoutes, streamTicketRoutes];

export interface BuildHttpAppOptions {
  config: Config;
  services: HttpServices;
  /** A pino logger to use, `true` for Fastify's default one, `false` for none. */
  logger: pino.Logger | boolean;
  /** The route plugins to register first; default: the v1 ingestion routes (`routes`). A worker serves only its probes. */
  routes?: readonly RoutePlugin[];
  /** More route plugins (query, admin, metrics …), registered after `routes`. */
  extraRoutes?: readonly RoutePlugin[];
  timing?: Partial<HttpTiming>;
  /** Hooks that observe every request (metrics, request context, tracing), installed before any route. */
  instrument?: readonly ((app: FastifyInstance) => void)[];
  /**
   * Per-tenant limits; by default the RAGD_TENANT_* server-wide ones, counted in this process. A
   * cluster passes admissions and a rate limiter that count in Redis, so every node shares them.
   */
  tenantLimits?: { source: TenantLimitsSource; queries: TenantAdmission; streams?: TenantAdmission; rateLimiter?: RateLimiterFactory };
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * The request id: the caller's `X-Request-Id` when it is a sane token (so a request can be
 * followed across a proxy and our logs), otherwise a fresh UUID. A hostile value (huge, or with
 * characters that could forge log lines or headers) is replaced, not echoed.
 */
export function requestIdFor(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && REQUEST_ID.test(value) ? value : randomUUID();
}

export async function buildHttpApp(opts: BuildHttpAppOptions): Promise<FastifyInstance> {
  const { config } = opts;
  const services: HttpServices = { ...opts.services, tickets: opts.services.tickets ?? new StreamTickets() };
  const timing: HttpTiming = { ...DEFAULT_TIMING, ...opts.timing };

  const app = Fastify({
    ...(typeof opts.logger === 'boolean'
      ? { logger: opts.logger }
      : // Each request's logger is made on its first line: most requests write none.
        { loggerInstance: opts.logger, childLoggerFactory: requestLoggerFactory }),
    bodyLimit: config.maxJsonBytes,
    ...serverTimeouts(config.httpLimits),
    // Fastify would take a present header verbatim, without calling genReqId; validating it
    // needs genReqId to read the header itself.
    requestIdHeader: false,
    genReqId: requestIdFor,
    frameworkErrors,
    clientErrorHandler,
    // plugins/draining.ts answers requests that arrive during shutdown, in our error shape.
    return503OnClosing: false,
    ajv: {
      customOptions: {
        // Unknown JSON fields are rejected by `additionalProperties: false`, not silently dropped.
        removeAdditional: false,
        coerceTypes: 'array',
        useDefaults: true,
        allErrors: false,
      },
    },
  }) as unknown as FastifyInstance;

  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  for (const install of opts.instrument ?? []) install(app);

  await app.register(errorsPlugin, {
    limits: {
      maxJsonBytes: config.maxJsonBytes,
      maxUploadBytes: config.maxUploadBytes,
      maxFilesPerRequest: config.maxFilesPerRequest,
    },
  });
  await app.register(utf8JsonPlugin);
  // JSON everywhere: without Fastify's default text/plain parser such bodies get a 415 instead of
  // reaching handlers as strings.
  app.removeContentTypeParser('text/plain');
  await app.register(drainingPlugin);
  await app.register(slowClientsPlugin, config.httpLimits);
  // Registered once at the root: it owns the server's 'upgrade' listener, which must not be
  // installed twice when later route plugins add WebSocket routes of their own.
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  // After websocket (see below), before the tenant: a foreign page is refused before anything else.
  await app.register(openModeGuardPlugin, { auth: services.auth ?? OPEN_AUTH, allowedHosts: [config.host, ...config.allowedHosts] });
  // After websocket: its onRequest hook marks upgrade requests, so that when authentication
  // refuses one (401) its onResponse hook still destroys the raw socket instead of leaking it.
  await app.register(tenantPlugin, { auth: services.auth ?? OPEN_AUTH, tickets: services.tickets! });
  // After the tenant (limits are per tenant) and after websocket, for the same reason.
  const source = opts.tenantLimits?.source ?? new ServerDefaultLimits(config.tenantLimits);
  await app.register(tenantLimitsPlugin, {
    source,
    queries: opts.tenantLimits?.queries ?? new TenantAdmission(source, QUERY_ADMISSION),
    streams: opts.tenantLimits?.streams ?? new TenantAdmission(source, STREAM_ADMISSION),
    rateLimiter: opts.tenantLimits?.rateLimiter ?? memoryRateLimiter,
  });
  // Process-wide admission after the tenant's own limits: a tenant over its limits is refused
  // before it can take (or wait for) one of the process's query slots.
  if (services.admission) await app.register(backpressurePlugin, services.admission);

  // Long-lived SSE responses would keep close() waiting forever; end them when shutdown begins.
  app.addHook('preClose', (done) => {
    closeAllSse(app.server);
    done();
  });

  await registerOpenApi(app);

  const context: RouteContext = { config, services, timing };
  for (const plugin of [...(opts.routes ?? routes), ...(opts.extraRoutes ?? [])]) {
    await app.register(plugin, context);
  }
  return app;
}
