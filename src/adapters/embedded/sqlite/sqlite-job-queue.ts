import { EventEmitter } from 'node:events';
import type { PipelineStage } from '../../../domain/types.js';
import type { JobQueue, LeasedJob, NewJob, StageCounts } from '../../../ports/job-queue.js';
import type { SqliteWriter } from './writer.js';

/**
 * The embedded durable queue: the `jobs` table, driven through the writer thread. Consumers in
 * this process are woken by `onRunnable` instead of polling tightly; a slow poll in the
 * pipeline still finds retries that come due and leases that expire.
 */
export class SqliteJobQueue implements JobQueue {
  private readonly events = new EventEmitter();

  constructor(
    private readonly writer: SqliteWriter,
    private readonly maxAttempts: number,
  ) {
    this.events.setMaxListeners(0);
  }

  async enqueue(job: NewJob): Promise<string> {
    const id = await this.writer.call('insertJob', { job, maxAttempts: this.maxAttempts });
    this.events.emit('runnable');
    return id;
  }

  /** Documents are enqueued by the store's createDocument transaction; this announces them. */
  notifyRunnable(): void {
    this.events.emit('runnable');
  }

  lease(stages: readonly PipelineStage[], owner: string, leaseMs: number): Promise<LeasedJob | null> {
    return this.writer.call('leaseJob', { stages, owner, leaseMs });
  }

  heartbeat(job: LeasedJob, leaseMs: number): Promise<boolean> {
    return this.writer.call('heartbeat', { id: job.id, token: job.leaseToken, leaseMs });
  }

  async complete(job: LeasedJob, next: NewJob | null): Promise<boolean> {
    const ok = await this.writer.call('completeJob', { id: job.id, token: job.leaseToken, next, maxAttempts: this.maxAttempts });
    if (ok && next) this.events.emit('runnable');
    return ok;
  }

  async fail(job: LeasedJob, error: string, retryAt: number | null): Promise<boolean> {
    return this.writer.call('failJob', { id: job.id, token: job.leaseToken, error, retryAt });
  }

  cancelDocument(documentId: string): Promise<number> {
    return this.writer.call('cancelDocumentJobs', { documentId });
  }

  async release(owner: string): Promise<number> {
    const n = await this.writer.call('releaseOwner', { owner });
    if (n > 0) this.events.emit('runnable');
    return n;
  }

  async reclaimDead(isAlive: (owner: string) => boolean): Promise<number> {
    const owners = await this.writer.call('listLeaseOwners');
    const dead = owners.filter((o) => !isAlive(o));
    if (dead.length === 0) return 0;
    const n = await this.writer.call('expireOwners', { owners: dead });
    if (n > 0) this.events.emit('runnable');
    return n;
  }

  counts(): Promise<Record<PipelineStage, StageCounts>> {
    return this.writer.call('stageCounts');
  }

  onRunnable(listener: () => void): () => void {
    this.events.on('runnable', listener);
    return () => this.events.off('runnable', listener);
  }

  async close(): Promise<void> {
    this.events.removeAllListeners();
  }
}
