import { createHistogram, performance, type EventLoopUtilization, type RecordableHistogram } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

/** Sampling interval of the event-loop delay histograms, in ms. */
export const LOOP_RESOLUTION_MS = 10;

interface LoopWindow {
  p50: number;
  p99: number;
  max: number;
  /** Share of the window the loop spent running JavaScript rather than waiting for I/O (0..1). */
  utilization: number;
}

/**
 * Event-loop delay and utilisation over a window that ends at each scrape. A 10 ms timer records
 * the time between its ticks, so an idle loop reads ~10 ms: the resolution is subtracted
 * (clamped at 0), leaving the time the loop was blocked beyond its schedule.
 *
 * The timer is ours rather than `monitorEventLoopDelay`'s, because resetting that histogram
 * also forgets its previous tick: the first interval after each scrape went unrecorded, and a
 * stall that began within 10 ms of a scrape was never seen.
 *
 * The window is rotated explicitly by the scrape (not inside a gauge's collect), because
 * prom-client collects gauges one after another: resetting inside the first would leave the
 * others reading an empty histogram.
 */
export class LoopWindowSampler {
  private readonly histogram: RecordableHistogram = createHistogram();
  private lastTick = performance.now();
  private readonly timer: NodeJS.Timeout;
  private elu: EventLoopUtilization = performance.eventLoopUtilization();
  private last: LoopWindow = { p50: 0, p99: 0, max: 0, utilization: 0 };

  constructor() {
    this.timer = setInterval(() => {
      const now = performance.now();
      this.histogram.record(Math.max(1, Math.round((now - this.lastTick) * 1e6)));
      this.lastTick = now;
    }, LOOP_RESOLUTION_MS);
    this.timer.unref();
  }

  /** The window so far, without ending it (the next scrape still gets its whole window). */
  peek(): LoopWindow {
    return this.read(false);
  }

  rotate(): void {
    this.last = this.read(true);
    this.histogram.reset();
  }

  private read(closing: boolean): LoopWindow {
    const h = this.histogram;
    // An empty window (two scrapes within one tick) reports no delay rather than stale data.
    const beyond = (ns: number) => (h.count === 0 ? 0 : Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS) / 1e3);
    const now = performance.eventLoopUtilization();
    const utilization = performance.eventLoopUtilization(now, this.elu).utilization;
    if (closing) this.elu = now;
    return { p50: beyond(h.percentile(50)), p99: beyond(h.percentile(99)), max: beyond(h.max), utilization };
  }

  get current(): LoopWindow {
    return this.last;
  }

  close(): void {
    clearInterval(this.timer);
  }
}

export function registerEventLoopMetrics(registry: Registry, loop: LoopWindowSampler): void {
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
    name: 'ragd_event_loop_utilization',
    help: 'Share of the time since the previous scrape of /metrics the event loop was busy (0..1)',
    registers: [registry],
    collect() {
      this.set(loop.current.utilization);
    },
  });
}
