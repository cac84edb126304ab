import { Counter, Gauge, type Registry } from 'prom-client';
import { latencyHistogram } from './latency.js';
import { STAGES, type DocumentStatus } from '../../domain/types.js';
import type { JobQueue } from '../../ports/job-queue.js';
import type { Store } from '../../ports/store.js';
import type { JobOutcome, PipelineEvents } from '../../services/pipeline/events.js';
import type { EventEmitter } from 'node:events';

/**
 * The ingestion pipeline: documents by status and jobs by stage and state (read from the store
 * and queue at scrape time, so they are right across processes sharing them), plus job
 * durations and retries of the stages this process ran (from the pipeline's events).
 */

const STATUSES: readonly DocumentStatus[] = ['queued', 'parsing', 'recognizing', 'chunking', 'embedding', 'indexing', 'ready', 'failed'];
const OUTCOMES: readonly JobOutcome[] = ['succeeded', 'retrying', 'failed', 'cancelled', 'lost'];

export interface PipelineSources {
  store: Pick<Store, 'documentCounts'>;
  queue: Pick<JobQueue, 'counts'>;
  /** The pipeline's events; absent in a process that runs no stages. */
  pipeline?: { events: EventEmitter<PipelineEvents> };
  /** Cluster only: the BullMQ queue's depth by state and its counters (BullmqJobQueue). */
  clusterQueue?: ClusterQueueMetrics;
}

/** What the cluster queue reports (BullmqJobQueue's depth() and counters()). */
export interface ClusterQueueMetrics {
  depth(): Promise<Record<string, Record<'waiting' | 'prioritized' | 'active' | 'delayed' | 'failed', number>>>;
  counters(): { stalledTakeovers: number; fenceRejections: number; readded: number; resent: number; staleSkipped: number };
}

const QUEUE_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed'] as const;

export function registerPipelineMetrics(registry: Registry, sources: PipelineSources): void {
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

  const durations = latencyHistogram(
    registry,
    'ragd_pipeline_job_duration_seconds',
    'Stage jobs run by this process, from lease to settle, by stage and outcome (succeeded, retrying, failed, cancelled, lost)',
    ['stage', 'outcome'],
  );
  const retries = new Counter({
    name: 'ragd_pipeline_retries_total',
    help: 'Stage jobs that failed and were scheduled for another attempt, by stage',
    labelNames: ['stage'],
    registers: [registry],
  });
  for (const stage of STAGES) {
    retries.inc({ stage }, 0);
    for (const outcome of OUTCOMES) durations.zero({ stage, outcome });
  }
  sources.pipeline?.events.on('jobSettled', ({ stage, outcome, seconds }) => {
    durations.observe({ stage, outcome }, seconds);
    if (outcome === 'retrying') retries.inc({ stage });
  });
  if (sources.clusterQueue) registerClusterQueueMetrics(registry, sources.clusterQueue);
}

/**
 * The BullMQ queue's depth by stage and state (read at scrape time from Redis, and the buried
 * rows from PostgreSQL), and this process's counts of what keeps it exactly-once and complete:
 * jobs its stalled check took over, settles refused by the fence, work the reconciler re-added.
 */
function registerClusterQueueMetrics(registry: Registry, queue: ClusterQueueMetrics): void {
  new Gauge({
    name: 'ragd_pipeline_queue_jobs',
    help: 'BullMQ pipeline jobs by stage and state (waiting, prioritized, active, delayed; failed: buried in PostgreSQL)',
    labelNames: ['stage', 'state'],
    registers: [registry],
    async collect() {
      const depth = await queue.depth();
      for (const stage of STAGES) for (const state of QUEUE_STATES) this.set({ stage, state }, depth[stage]?.[state] ?? 0);
    },
  });
  // Counters mirror the queue's own tallies: each scrape adds what changed since the last.
  const mirrored = (name: string, help: string, read: (c: ReturnType<ClusterQueueMetrics['counters']>) => number) => {
    let seen = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = read(queue.counters());
        if (now > seen) this.inc(now - seen);
        seen = now;
      },
    });
  };
  mirrored('ragd_pipeline_stalled_takeovers_total', 'Jobs whose worker lost its lock, handed back by this process’s stalled check', (c) => c.stalledTakeovers);
  mirrored('ragd_pipeline_fence_rejections_total', 'Settles and heartbeats refused because a newer attempt held the fence', (c) => c.fenceRejections);
  mirrored('ragd_pipeline_stale_jobs_skipped_total', 'BullMQ jobs leased for a row that was gone or had moved on, skipped', (c) => c.staleSkipped);
  mirrored('ragd_pipeline_reconciler_readded_total', 'Rows whose BullMQ job was lost, re-added by the reconciler', (c) => c.readded);
  mirrored('ragd_pipeline_reconciler_resent_total', 'Rows left unsent past the grace period, sent by a reconciler pass', (c) => c.resent);
}
