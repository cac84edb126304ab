import type { Registry } from 'prom-client';
import type { RoutePlugin } from '../app.js';

/**
 * `GET /metrics` in the Prometheus text format. The registry is passed in (one per runtime), so
 * this plugin knows nothing about what is measured. `beforeScrape` runs first on every request;
 * it closes windowed gauges (event-loop delay) so each scrape reports the time since the last.
 *
 * Gauges backed by the store read only aggregate counts, never names or ids, so the endpoint
 * leaks nothing about any tenant's content.
 */
export function metricsRoutes(opts: { registry: Registry; beforeScrape?: () => void }): RoutePlugin {
  return async (app) => {
    const schema = {
      tags: ['health'],
      summary: 'Prometheus metrics',
      response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } },
    };
    app.get('/metrics', { logLevel: 'warn', schema }, async (_request, reply) => {
      opts.beforeScrape?.();
      const body = await opts.registry.metrics();
      return reply.header('content-type', opts.registry.contentType).send(body);
    });
  };
}
