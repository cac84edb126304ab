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
}

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
}
