import { context, propagation, trace, type Context } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { failSpan, SpanKind, tracer, tracingEnabled } from './tracing.js';

/**
 * Follows each HTTP request into the work it causes, when tracing is on: every route handler
 * runs inside the request's SERVER span, so query phases, model calls and the pipeline jobs an
 * upload enqueues become its children. Handlers are wrapped at registration (onRoute) rather than
 * entered from a hook, because the body is read between the hooks and the handler, outside any
 * hook's async context.
 *
 * The request id is not carried this way: an AsyncLocalStorage context per request costs Node 20
 * a promise hook on every promise (about a fifth of a cached query's CPU). It travels explicitly
 * instead (QueryHooks.requestId → the provider lanes' events), and request.log carries it in the
 * HTTP layer.
 *
 * Install it with `buildHttpApp({ instrument })`, before any route is registered.
 */
/** Probes and scrapes: frequent, uninteresting, and not worth a trace each. */
const UNTRACED_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

export function observeRequests(app: FastifyInstance): void {
  const spans = new WeakMap<FastifyRequest, Context>();
  if (!tracingEnabled()) return;

  app.addHook('onRequest', (request, reply, done) => {
    if (UNTRACED_ROUTES.has(request.routeOptions.url ?? '')) return done();
    // A caller's `traceparent` header makes this request part of its trace.
    const parent = propagation.extract(context.active(), request.headers);
    const span = tracer().startSpan(
      `${request.method}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'url.path': request.url.split('?')[0], 'ragd.request_id': request.id } },
      parent,
    );
    spans.set(request, trace.setSpan(parent, span));
    // 'close' fires for every response, hijacked streams and aborted connections included.
    reply.raw.once('close', () => {
      const route = request.routeOptions.url;
      if (route) {
        span.updateName(`${request.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      const status = reply.raw.statusCode;
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) failSpan(span, new Error(`HTTP ${status}`));
      span.end();
    });
    done();
  });

  app.addHook('onRoute', (route) => {
    // @fastify/websocket swaps the handler of WebSocket routes for its own; those keep request.log.
    if ((route as { websocket?: boolean }).websocket) return;
    const handler = route.handler as RouteHandlerMethod;
    route.handler = function observed(this: FastifyInstance, request, reply) {
      const ctx = spans.get(request);
      return ctx ? context.with(ctx, () => handler.call(this, request, reply)) : handler.call(this, request, reply);
    };
  });
}
