import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { STAGES, type DocumentStatus } from '../domain/types.js';
import type { RoutePlugin } from '../http/app.js';
import { metricsRoutes } from '../http/routes/metrics.js';
import type { JobQueue } from '../ports/job-queue.js';
import type { Store } from '../ports/store.js';

/** What the metrics read. A Runtime has all of it; tests can pass less. */
export interface MetricsSources {
  store: Pick<Store, 'documentCounts'>;
  queue: Pick<JobQueue, 'counts'>;
  pool: { stats(): { threads: number; queued: number; utilization: number } };
}

export interface Metrics {
  /** This runtime's own registry (never prom-client's global one, so several apps can coexist). */
  registry: Registry;
  /** `GET /metrics`, for `buildHttpApp({ extraRoutes })`. */
  routes: RoutePlugin;
  /** Ends the scrape window of the event-loop delay gauges; the route calls it on every scrape. */
  rotateWindow(): void;
  /** Stops the event-loop sampler. */
  close(): void;
}

/** Sampling interval of the event-loop delay histograms, in ms. */
export const LOOP_RESOLUTION_MS = 10;

const STATUSES: readonly DocumentStatus[] = ['queued', 'parsing', 'chunking', 'embedding', 'indexing', 'ready', 'failed'];

interface LoopWindow {
  p50: number;
  p99: number;
  max: number;
}

/**
 * Event-loop delay over a window that ends at each scrape. The histogram records the time
 * between ticks of a 10 ms timer, so an idle loop reads ~10 ms: the resolution is subtracted
 * (clamped at 0), leaving the time the loop was blocked beyond its schedule.
 *
 * The window is rotated explicitly by the scrape (not inside a gauge's collect), because
 * prom-client collects the three gauges one after another: resetting inside the first would
 * leave the other two reading an empty histogram.
 */
class LoopDelayWindow {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  private last: LoopWindow = { p50: 0, p99: 0, max: 0 };

  constructor() {
    this.histogram.enable();
  }

  rotate(): void {
    const h = this.histogram;
    // An empty window (two scrapes within one tick) reports no delay rather than stale data.
    const beyond = (ns: number) => (h.count === 0 ? 0 : Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS) / 1e3);
    this.last = { p50: beyond(h.percentile(50)), p99: beyond(h.percentile(99)), max: beyond(h.max) };
    h.reset();
  }

  get current(): LoopWindow {
    return this.last;
  }

  close(): void {
    this.histogram.disable();
  }
}

export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: LOOP_RESOLUTION_MS });

  const loop = new LoopDelayWindow();
  const loopGauge = (name: string, what: string, pick: (w: LoopWindow) => number) =>
    new Gauge({
      name,
      help: `${what} event-loop delay beyond the ${LOOP_RESOLUTION_MS} ms sampling interval, over the window since the previous scrape of /metrics (seconds)`,
      registers: [registry],
      collect() {
        this.set(pick(loop.current));
      },
    });
  loopGauge('ragd_event_loop_delay_p50_seconds', 'Median', (w) => w.p50);
  loopGauge('ragd_event_loop_delay_p99_seconds', '99th percentile', (w) => w.p99);
  loopGauge('ragd_event_loop_delay_max_seconds', 'Largest', (w) => w.max);

  new Gauge({
    name: 'ragd_documents',
    help: 'Documents by status, all tenants and knowledge bases',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const counts = await sources.store.documentCounts();
      for (const status of STATUSES) this.set({ status }, counts[status] ?? 0);
    },
  });

  new Gauge({
    name: 'ragd_pipeline_jobs',
    help: 'Pipeline jobs by stage and state (waiting: queued or backing off; active: leased; failed: gave up)',
    labelNames: ['stage', 'state'],
    registers: [registry],
    async collect() {
      const counts = await sources.queue.counts();
      for (const stage of STAGES) {
        const c = counts[stage];
        this.set({ stage, state: 'waiting' }, c?.waiting ?? 0);
        this.set({ stage, state: 'active' }, c?.active ?? 0);
        this.set({ stage, state: 'failed' }, c?.failed ?? 0);
      }
    },
  });

  new Gauge({
    name: 'ragd_worker_pool_utilization',
    help: 'Share of the worker-thread pool capacity in use since it started (0..1, from piscina)',
    registers: [registry],
    collect() {
      this.set(sources.pool.stats().utilization);
    },
  });

  new Gauge({
    name: 'ragd_worker_pool_queue_length',
    help: 'Tasks waiting for a free worker thread',
    registers: [registry],
    collect() {
      this.set(sources.pool.stats().queued);
    },
  });

  new Gauge({
    name: 'ragd_worker_pool_threads',
    help: 'Worker threads currently running',
    registers: [registry],
    collect() {
      this.set(sources.pool.stats().threads);
    },
  });

  const rotateWindow = () => loop.rotate();
  return {
    registry,
    routes: metricsRoutes({ registry, beforeScrape: rotateWindow }),
    rotateWindow,
    close: () => loop.close(),
  };
}
