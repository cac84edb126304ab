import { context, propagation, trace, type Context } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { runInRequest } from './request-context.js';
import { failSpan, SpanKind, tracer, tracingEnabled } from './tracing.js';

/**
 * Follows each HTTP request into the work it causes. Every route handler runs inside the
 * request's context: its id (so service log lines carry `reqId`) and, when tracing is on, its
 * SERVER span (so query phases, model calls and the pipeline jobs an upload enqueues become
 * its children). Handlers are wrapped at registration (onRoute) rather than entered from a hook,
 * because the body is read between the hooks and the handler, outside any hook's async context.
 *
 * Install it with `buildHttpApp({ instrument })`, before any route is registered.
 */
/** Probes and scrapes: frequent, uninteresting, and not worth a trace each. */
const UNTRACED_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

export function observeRequests(app: FastifyInstance): void {
  const spans = new WeakMap<FastifyRequest, Context>();
  const tracing = tracingEnabled();

  if (tracing) {
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
  }

  app.addHook('onRoute', (route) => {
    // @fastify/websocket swaps the handler of WebSocket routes for its own; those keep request.log.
    if ((route as { websocket?: boolean }).websocket) return;
    const handler = route.handler as RouteHandlerMethod;
    route.handler = function observed(this: FastifyInstance, request, reply) {
      const run = () => runInRequest({ reqId: String(request.id) }, () => handler.call(this, request, reply));
      const ctx = tracing ? spans.get(request) : undefined;
      return ctx ? context.with(ctx, run) : run();
    };
  });
}
