import type { Registry } from 'prom-client';
import type { DocumentStatus, PipelineStage } from '../../domain/types.js';
import type { StageCounts } from '../../ports/job-queue.js';
import type { LoopWindowSampler } from './event-loop.js';
import type { MetricsSources } from './index.js';

/**
 * A small JSON digest of the same sources /metrics reads, for the console's operations panel
 * (a browser should not parse Prometheus text). /metrics stays the source for scrapers.
 */
export interface OpsSummary {
  requests: { count: number; p50_ms: number | null; p99_ms: number | null };
  event_loop: { delay_p50_ms: number; delay_p99_ms: number; delay_max_ms: number };
  queue: Record<PipelineStage, StageCounts>;
  providers: { name: string; calls: number; retries: number; failures: number; in_flight: number; queued: number; breaker: string }[];
  caches: { name: string; hits: number; misses: number; hit_rate: number | null }[];
  /** The asking tenant's documents only. */
  documents: Record<DocumentStatus, number>;
}

interface HistogramValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * A quantile of a Prometheus histogram summed over all its series: the bucket bound where the
 * cumulative count passes q, interpolated linearly inside the bucket (as histogram_quantile does).
 */
export function histogramQuantile(values: readonly HistogramValue[], q: number): number | null {
  const buckets = new Map<number, number>();
  for (const v of values) {
    if (!v.metricName?.endsWith('_bucket')) continue;
    const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + v.value);
  }
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const bound of bounds) {
    const count = buckets.get(bound)!;
    if (count >= rank) {
      if (bound === Infinity) return prevBound;
      const within = count - prevCount;
      return within === 0 ? bound : prevBound + ((bound - prevBound) * (rank - prevCount)) / within;
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}

const ms = (seconds: number | null) => (seconds === null ? null : Math.round(seconds * 1e5) / 100);

export async function opsSummary(registry: Registry, loop: LoopWindowSampler, sources: MetricsSources, tenantId: string): Promise<OpsSummary> {
  const http = registry.getSingleMetric('ragd_http_request_duration_seconds');
  const values = http ? ((await http.get()).values as HistogramValue[]) : [];
  const count = values.filter((v) => v.metricName?.endsWith('_count')).reduce((n, v) => n + v.value, 0);
  const loopNow = loop.peek();
  const [queue, documents] = await Promise.all([sources.queue.counts(), sources.store.documentCounts(tenantId)]);
  return {
    requests: { count, p50_ms: ms(histogramQuantile(values, 0.5)), p99_ms: ms(histogramQuantile(values, 0.99)) },
    event_loop: { delay_p50_ms: ms(loopNow.p50)!, delay_p99_ms: ms(loopNow.p99)!, delay_max_ms: ms(loopNow.max)! },
    queue,
    providers: (sources.lanes ?? []).map((lane) => {
      const s = lane.stats();
      return { name: s.name, calls: s.calls, retries: s.retries, failures: s.failures, in_flight: s.inFlight, queued: s.queued, breaker: s.breaker };
    }),
    caches: Object.entries(sources.query?.caches ?? {}).map(([name, cache]) => {
      const { hits, misses } = cache.stats();
      return { name, hits, misses, hit_rate: hits + misses === 0 ? null : Math.round((hits / (hits + misses)) * 1000) / 1000 };
    }),
    documents,
  };
}
