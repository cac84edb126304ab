import { Histogram, type Registry } from 'prom-client';
import { SeriesHistogram } from './series-histogram.js';

/**
 * Histogram buckets (seconds) shared by every latency family, so dashboards can compare HTTP,
 * query phases, stage jobs and model calls on one scale: 1 ms to 2 minutes.
 */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export function latencyHistogram<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Histogram<L> {
  return new Histogram({ name, help, labelNames, buckets: LATENCY_BUCKETS, registers: [registry] });
}

/** The same, for a family observed on every request: series looked up by label values (see SeriesHistogram). */
export function hotLatencyHistogram<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): SeriesHistogram<L> {
  return new SeriesHistogram(registry, name, help, labelNames, LATENCY_BUCKETS);
}
