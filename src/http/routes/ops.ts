import type { OpsSummary } from '../../observability/metrics/ops-summary.js';
import type { RoutePlugin } from '../app.js';
import { errorResponses } from '../schemas.js';

/**
 * `GET /v1/ops`: the operations panel's JSON (request latency, event-loop delay, queue depth by
 * stage, provider lanes, cache hit rates, the caller's documents by status). Process-wide figures
 * are the same aggregates /metrics publishes without credentials; only document counts are the
 * tenant's own.
 */
export function opsRoutes(summary: (tenantId: string) => Promise<OpsSummary>): RoutePlugin {
  return async (app) => {
    app.get(
      '/v1/ops',
      {
        logLevel: 'warn',
        schema: {
          tags: ['health'],
          summary: 'Operations summary as JSON (the console\'s live panel); /metrics stays Prometheus text',
          response: { 200: { type: 'object', additionalProperties: true }, ...errorResponses },
        },
      },
      async (request) => summary(request.tenantId),
    );
  };
}
