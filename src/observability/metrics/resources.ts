import type { EventEmitter } from 'node:events';
import { Gauge, Histogram, type Registry } from 'prom-client';
import type { WriterEvents } from '../../adapters/embedded/sqlite/writer.js';
import { labelledGauge } from './labelled-gauge.js';

/** Worker-thread pools and the database: how busy they are and how long they make work wait. */

export interface PoolStats {
  stats(): { threads: number; queued: number; utilization: number };
}

export interface ResourceSources {
  /** Worker pools by name: `ingest` (parse/chunk/embed), `search` (queries). */
  pools: Record<string, PoolStats>;
  /** The database's single writer: its calls (timed) and its backlog. */
  dbWriter?: { events: EventEmitter<WriterEvents>; readonly queued: number };
  /** Free space of the data directory. */
  disk?: { readonly freeBytes: number; readonly low: boolean };
}

export function registerResourceMetrics(registry: Registry, sources: ResourceSources): void {
  const pools = Object.entries(sources.pools);
  const poolGauge = (name: string, help: string, read: (s: ReturnType<PoolStats['stats']>) => number) =>
    labelledGauge(registry, 'pool', pools, name, help, read);
  poolGauge('ragd_worker_pool_utilization', 'Share of the worker-thread pool capacity in use since it started (0..1, from piscina)', (s) => s.utilization);
  poolGauge('ragd_worker_pool_queue_length', 'Tasks waiting for a free worker thread', (s) => s.queued);
  poolGauge('ragd_worker_pool_threads', 'Worker threads currently running', (s) => s.threads);

  const disk = sources.disk;
  if (disk) {
    new Gauge({
      name: 'ragd_disk_free_bytes',
      help: 'Free bytes on the data directory file system (for the unprivileged user)',
      registers: [registry],
      collect() {
        if (Number.isFinite(disk.freeBytes)) this.set(disk.freeBytes);
      },
    });
    new Gauge({
      name: 'ragd_disk_low',
      help: '1 while free space is below RAGD_MIN_FREE_DISK_BYTES (readiness fails, the pipeline pauses)',
      registers: [registry],
      collect() {
        this.set(disk.low ? 1 : 0);
      },
    });
  }

  const writer = sources.dbWriter;
  if (!writer) return;
  // SQLite is not pooled: one writer thread applies writes in order; reads are in-process or in
  // the search pool. Its backlog is the pool-usage figure that matters.
  new Gauge({
    name: 'ragd_db_writer_queue_length',
    help: 'Database writes waiting for the single writer thread',
    registers: [registry],
    collect() {
      this.set(writer.queued);
    },
  });
  const calls = new Histogram({
    name: 'ragd_db_call_duration_seconds',
    help: 'Database writer calls from submission to result (queueing included), by operation and outcome',
    labelNames: ['op', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  writer.events.on('call', ({ op, seconds, ok }) => calls.observe({ op, outcome: ok ? 'ok' : 'error' }, seconds));
}
