import { collectDefaultMetrics, Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type { RoutePlugin } from '../../http/app.js';
import { metricsRoutes } from '../../http/routes/metrics.js';
import type { ProviderLane } from '../../providers/lane.js';
import { LOOP_RESOLUTION_MS, LoopWindowSampler, registerEventLoopMetrics } from './event-loop.js';
import { registerAdmissionMetrics, type AdmissionSources } from './admission.js';
import { registerHttpMetrics } from './http.js';
import { registerPipelineMetrics, type PipelineSources } from './pipeline.js';
import { registerProviderMetrics } from './providers.js';
import { registerQueryMetrics, type QuerySources } from './query.js';
import { registerResourceMetrics, type ResourceSources } from './resources.js';
import { opsSummary, type OpsSummary } from './ops-summary.js';

export { LOOP_RESOLUTION_MS };

/**
 * What the metrics read or listen to. A runtime has all of it (see app/observability.ts); a
 * process role without a query path or provider lanes passes less.
 */
export interface MetricsSources extends PipelineSources, ResourceSources {
  lanes?: readonly ProviderLane[];
  query?: QuerySources;
  admission?: AdmissionSources;
}

export interface Metrics {
  /** This runtime's own registry (never prom-client's global one, so several apps can coexist). */
  registry: Registry;
  /** `GET /metrics`, for `buildHttpApp({ extraRoutes })`. */
  routes: RoutePlugin;
  /** Request timing and connection gauges, for `buildHttpApp({ instrument })`. */
  instrumentHttp(app: FastifyInstance): void;
  /** Ends the scrape window of the event-loop gauges; the route calls it on every scrape. */
  rotateWindow(): void;
  /** The JSON digest of the operations panel, documents counted for `tenantId`. */
  summary(tenantId: string): Promise<OpsSummary>;
  /** Stops the event-loop sampler. */
  close(): void;
}

/**
 * Every metric family, by area: event loop, HTTP, pipeline, providers, query path, pools and
 * database, plus prom-client's process defaults (memory, CPU, GC, handles). Labels are bounded
 * sets (routes, stages, providers, states): no tenant, KB, document or raw URL is ever a label.
 */
export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: LOOP_RESOLUTION_MS });

  const loop = new LoopWindowSampler();
  registerEventLoopMetrics(registry, loop);
  const instrumentHttp = registerHttpMetrics(registry);
  registerPipelineMetrics(registry, sources);
  registerResourceMetrics(registry, sources);
  registerProviderMetrics(registry, sources.lanes ?? []);
  if (sources.query) registerQueryMetrics(registry, sources.query);
  if (sources.admission) registerAdmissionMetrics(registry, sources.admission);

  const rotateWindow = () => loop.rotate();
  return {
    registry,
    routes: metricsRoutes({ registry, beforeScrape: rotateWindow }),
    instrumentHttp,
    rotateWindow,
    summary: (tenantId) => opsSummary(registry, loop, sources, tenantId),
    close: () => loop.close(),
  };
}
