import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EventBus } from '../../../ports/event-bus.js';
import type { PostgresQueryJobs } from '../postgres/postgres-query-jobs.js';
import { addQueryJob, openQueryJobQueue, queueConnection, type QueryJobData, type QueryJobRedis } from './query-job-queue.js';

export interface QueryJobReconcilerOptions {
  /** How often a pass runs. */
  intervalMs: number;
  /** A job younger than this is left alone: its producer may still be adding it to BullMQ. */
  graceMs: number;
  /** Most jobs one pass looks at (oldest first); the next pass takes the rest. */
  batch?: number;
}

export interface ReconcilePass {
  /** Unfinished jobs that had no BullMQ job and were added again. */
  requeued: number;
  /** Unfinished jobs failed because their result would already have expired. */
  expired: number;
}

/**
 * Nothing lives only in Redis: a query job whose task is still `queued` or `running` but whose
 * BullMQ job is gone (Redis restarted empty, the producer could not add it, retries ran out) is
 * added again from its PostgreSQL row. Every process may run one; an advisory lock lets one pass
 * run at a time across the cluster, and the others skip theirs. The same pass purges expired
 * results, which RetrieveJobs' timer does in embedded mode.
 */
export class QueryJobReconciler {
  private readonly connection: Redis;
  private readonly queue: Queue<QueryJobData>;
  private timer: NodeJS.Timeout | null = null;
  private pass: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | null = null;
  /** Totals since start, for metrics. */
  readonly totals: ReconcilePass = { requeued: 0, expired: 0 };

  constructor(
    private readonly deps: {
      jobs: PostgresQueryJobs;
      bus: EventBus;
      redis: QueryJobRedis;
      logger?: Logger;
      now?: () => Date;
      /** Removes finished tasks past their expiry (`Store.purgeExpiredTasks`): once per pass, by one process. */
      purgeExpiredTasks?: (now: Date) => Promise<number>;
    },
    private readonly opts: QueryJobReconcilerOptions,
  ) {
    this.connection = queueConnection(deps.redis);
    this.connection.on('error', () => {});
    this.queue = openQueryJobQueue(deps.redis, this.connection);
  }

  start(): Promise<void> {
    if (!this.timer && !this.closing) {
      this.timer = setInterval(() => {
        this.pass = this.reconcileOnce().catch((err: unknown) => this.deps.logger?.warn({ err }, 'query job reconciliation failed'));
      }, this.opts.intervalMs);
      this.timer.unref();
    }
    return Promise.resolve();
  }

  /** One pass; null when another process holds the lock. */
  async reconcileOnce(): Promise<ReconcilePass | null> {
    return this.deps.jobs.whileReconcilerLockHeld(async () => {
      const now = this.deps.now?.() ?? new Date();
      await this.deps.purgeExpiredTasks?.(now);
      const expired = await this.deps.jobs.failExpired(now, 'the query job expired before a worker ran it');
      for (const event of expired) await this.deps.bus.publish(event);
      let requeued = 0;
      const cutoff = new Date(now.getTime() - this.opts.graceMs);
      for (const taskId of await this.deps.jobs.unfinished(cutoff, now, this.opts.batch ?? 500)) {
        const job = await this.queue.getJob(taskId);
        if (job) {
          // Waiting, delayed or running: it is live. Finished while its task is not (a job that
          // gave up and was kept): make room for a fresh one under the same id.
          const state = await job.getState();
          if (state !== 'completed' && state !== 'failed') continue;
          await job.remove();
        }
        await addQueryJob(this.queue, taskId);
        requeued++;
      }
      if (requeued || expired.length) this.deps.logger?.info({ requeued, expired: expired.length }, 'query jobs reconciled');
      this.totals.requeued += requeued;
      this.totals.expired += expired.length;
      return { requeued, expired: expired.length };
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.timer) clearInterval(this.timer);
      await this.pass;
      await this.queue.close().catch(() => {});
      this.connection.disconnect();
    })();
    return this.closing;
  }
}
