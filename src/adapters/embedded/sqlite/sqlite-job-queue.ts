import { EventEmitter } from 'node:events';
import type { PipelineStage, Scope, TaskView } from '../../../domain/types.js';
import type { JobQueue, LeasedJob, NewJob, StageCounts, StageStart } from '../../../ports/job-queue.js';
import type { TenantLimitsSource } from '../../../ports/tenant-limits.js';
import type { SqliteWriter } from './writer.js';

/**
 * The embedded durable queue: the `jobs` table, driven through the writer thread. Consumers in
 * this process are woken by `onRunnable` instead of polling tightly; a slow poll in the
 * pipeline still finds retries that come due and leases that expire.
 */
export interface FairShareOptions {
  /** Where each tenant's `pipelineWeight` comes from; without it every tenant weighs 1. */
  limits?: TenantLimitsSource;
  /** How often the weights are copied into the scheduler's table. Default 10 s. */
  weightRefreshMs?: number;
  onError?: (err: unknown) => void;
}

export class SqliteJobQueue implements JobQueue {
  private readonly events = new EventEmitter<{ runnable: [stage: PipelineStage | null] }>();
  private weightsRefreshedAt = -Infinity;
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly writer: SqliteWriter,
    private readonly maxAttempts: number,
    private readonly fairShare: FairShareOptions = {},
  ) {
    this.events.setMaxListeners(0);
  }

  async enqueue(job: NewJob): Promise<string> {
    const id = await this.writer.call('insertJob', { job, maxAttempts: this.maxAttempts });
    this.events.emit('runnable', job.stage);
    return id;
  }

  /** Documents are enqueued by the store's createDocument transaction; this announces them. */
  notifyRunnable(stage: PipelineStage): void {
    this.events.emit('runnable', stage);
  }

  lease(stages: readonly PipelineStage[], owner: string, leaseMs: number): Promise<LeasedJob | null> {
    this.maybeRefreshWeights();
    return this.writer.call('leaseJob', { stages, owner, leaseMs });
  }

  /** The queue and the store share the database: the lease and the stage's start are one transaction. */
  leaseAndStart(stages: readonly PipelineStage[], owner: string, leaseMs: number, start: StageStart): Promise<{ job: LeasedJob; task: TaskView | null } | null> {
    this.maybeRefreshWeights();
    return this.writer.call('leaseAndStartJob', { stages, owner, leaseMs, start });
  }

  /**
   * Copies each tenant's pipelineWeight into the scheduler's table (see fair-lease.ts for why a
   * table). In the background: a slow limits source must never hold a lease up; until the first
   * refresh lands, a tenant weighs 1.
   */
  refreshWeights(): Promise<void> {
    const limits = this.fairShare.limits;
    if (!limits) return Promise.resolve();
    this.refreshing ??= (async () => {
      try {
        const current = await this.writer.call('schedWeights');
        const changed: { tenantId: string; weight: number }[] = [];
        for (const { tenantId, weight } of current) {
          const wanted = (await limits.limitsFor(tenantId)).pipelineWeight;
          // The weight divides the charge per job: anything not positive and finite counts as 1.
          const w = Number.isFinite(wanted) && wanted > 0 ? wanted : 1;
          if (w !== weight) changed.push({ tenantId, weight: w });
        }
        if (changed.length > 0) await this.writer.call('setTenantWeights', { weights: changed });
        this.weightsRefreshedAt = Date.now();
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private maybeRefreshWeights(): void {
    if (!this.fairShare.limits || this.refreshing) return;
    if (Date.now() - this.weightsRefreshedAt < (this.fairShare.weightRefreshMs ?? 10_000)) return;
    this.refreshWeights().catch((err: unknown) => {
      // Retried on a later lease; meanwhile the previous weights stay in force.
      this.weightsRefreshedAt = Date.now();
      this.fairShare.onError?.(err);
    });
  }

  heartbeat(job: LeasedJob, leaseMs: number): Promise<boolean> {
    return this.writer.call('heartbeat', { id: job.id, token: job.leaseToken, leaseMs });
  }

  async complete(job: LeasedJob, next: NewJob | null): Promise<boolean> {
    const ok = await this.writer.call('completeJob', { id: job.id, token: job.leaseToken, next, maxAttempts: this.maxAttempts });
    if (ok && next) this.events.emit('runnable', next.stage);
    return ok;
  }

  async fail(job: LeasedJob, error: string, retryAt: number | null): Promise<boolean> {
    return this.writer.call('failJob', { id: job.id, token: job.leaseToken, error, retryAt });
  }

  async postpone(job: LeasedJob, reason: string, runAt: number): Promise<boolean> {
    return this.writer.call('postponeJob', { id: job.id, token: job.leaseToken, reason, runAt });
  }

  revive(scope: Scope, documentId: string): Promise<PipelineStage | null> {
    return this.writer.call('reviveDocumentJob', { ...scope, documentId });
  }

  cancelDocument(documentId: string): Promise<number> {
    return this.writer.call('cancelDocumentJobs', { documentId });
  }

  async release(owner: string): Promise<number> {
    const n = await this.writer.call('releaseOwner', { owner });
    if (n > 0) this.events.emit('runnable', null);
    return n;
  }

  async reclaimDead(isAlive: (owner: string) => boolean): Promise<number> {
    const owners = await this.writer.call('listLeaseOwners');
    const dead = owners.filter((o) => !isAlive(o));
    if (dead.length === 0) return 0;
    const n = await this.writer.call('expireOwners', { owners: dead });
    if (n > 0) this.events.emit('runnable', null);
    return n;
  }

  counts(): Promise<Record<PipelineStage, StageCounts>> {
    return this.writer.call('stageCounts');
  }

  onRunnable(listener: (stage: PipelineStage | null) => void): () => void {
    this.events.on('runnable', listener);
    return () => this.events.off('runnable', listener);
  }

  async close(): Promise<void> {
    this.events.removeAllListeners();
  }
}
