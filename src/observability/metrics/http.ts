import type { FastifyInstance } from 'fastify';
import { Gauge, type Registry } from 'prom-client';
import { hotLatencyHistogram } from './latency.js';
import { openSseCount } from '../../http/sse.js';

/**
 * HTTP: request durations by route template (never the raw URL, whose ids would make the label
 * set unbounded) and open long-lived connections. Returns the hook installer for
 * `buildHttpApp({ instrument })`: the gauges read the app it was installed on.
 */
export function registerHttpMetrics(registry: Registry): (app: FastifyInstance) => void {
  let app: FastifyInstance | null = null;

  const requests = hotLatencyHistogram(
    registry,
    'ragd_http_request_duration_seconds',
    'HTTP requests from arrival to the last byte of the response, by method, route template and status code (streams and WebSockets excluded)',
    ['method', 'route', 'status_code'],
  );

  new Gauge({
    name: 'ragd_open_connections',
    help: 'Long-lived connections open right now, by kind (sse: task progress and streamed answers; websocket: KB event feeds)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const server = app?.server;
      this.set({ kind: 'sse' }, server ? openSseCount(server) : 0);
      this.set({ kind: 'websocket' }, app?.websocketServer?.clients.size ?? 0);
    },
  });

  return (instance) => {
    app = instance;
    instance.addHook('onResponse', (request, reply, done) => {
      // A request that matched no route (404) is one series, whatever its URL was.
      const route = request.routeOptions.url ?? 'unmatched';
      requests.seriesOf(request.method, route, String(reply.statusCode)).observe(reply.elapsedTime / 1000);
      done();
    });
  };
}
