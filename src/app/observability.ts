import type { ProviderLane } from '../providers/lane.js';
import type { MetricsSources } from '../observability/metrics/index.js';
import type { HealthCheck } from '../services/health.js';
import type { Runtime } from './runtime.js';

/** What the metrics of a runtime read and listen to. */
export function metricsSources(runtime: Runtime): MetricsSources {
  return {
    store: runtime.store,
    queue: runtime.queue,
    ...(runtime.queueMetrics ? { clusterQueue: runtime.queueMetrics } : {}),
    pipeline: runtime.pipeline,
    pools: { ingest: runtime.pool, search: runtime.query.searchPool },
    ...(runtime.localIndex ? { dbWriter: runtime.localIndex.writer } : {}),
    disk: runtime.disk,
    lanes: runtime.lanes,
    query: { query: runtime.query.service, caches: { answer: runtime.query.cache, embedding: runtime.query.embeddings } },
    admission: { gates: { query: runtime.admission.queries } },
  };
}

/** An open breaker is a dependency that is down for now: the check fails, named after the provider. */
export function breakerChecks(lanes: readonly ProviderLane[]): HealthCheck[] {
  return lanes.map((lane) => ({
    name: `provider_${lane.name}`,
    failure: 'circuit breaker open',
    async check() {
      if (lane.stats().breaker === 'open') throw new Error(`the ${lane.name} provider's circuit breaker is open`);
    },
  }));
}

/** What /readyz checks: the store, the queue, the adapters' own dependencies, providers' breakers, disk space. */
export function healthChecks(runtime: Runtime): HealthCheck[] {
  return [
    { name: 'store', check: () => runtime.store.ping() },
    { name: 'queue', check: async () => void (await runtime.queue.counts()) },
    ...runtime.adapterChecks,
    ...breakerChecks(runtime.lanes),
    {
      name: 'disk',
      failure: 'low on disk space',
      async check() {
        if (runtime.disk.low) throw new Error(`${runtime.disk.freeBytes} bytes free, below RAGD_MIN_FREE_DISK_BYTES`);
      },
    },
  ];
}
