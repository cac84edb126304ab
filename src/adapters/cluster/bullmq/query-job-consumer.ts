import { WaitingError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { AppError } from '../../../domain/errors.js';
import type { QueryJobConsumer } from '../../../ports/query-jobs.js';
import { QueryJobHandedBack, runQueryJob, type QueryJobRunnerDeps } from '../../../services/query/query-job-runner.js';
import { QUERY_JOB_QUEUE, type QueryJobData, type QueryJobSideDeps } from './query-job-queue.js';

/** How often a job whose tenant is at its concurrent-query limit asks again for a slot. */
const SLOT_POLL_MS = 100;

export interface BullmqQueryJobConsumerOptions {
  /** Jobs this process runs at once. */
  concurrency: number;
  /** How long BullMQ's lock on a running job lasts before another worker may take it over (renewed while it runs). */
  lockDurationMs?: number;
  /** How often this worker looks for jobs whose worker died (lock lapsed) and puts them back. */
  stalledIntervalMs?: number;
}

/**
 * A worker's side of the cluster query jobs: takes task ids from BullMQ, reads each request from
 * PostgreSQL and runs it with the shared runner, settling the task conditionally (a redelivery
 * of a job whose task has ended does nothing). `close` stops taking jobs, waits for the running
 * ones until the deadline, then aborts them and hands them back to the queue for another worker.
 */
export class BullmqQueryJobConsumer implements QueryJobConsumer {
  private readonly connection: Redis;
  private readonly worker: Worker<QueryJobData>;
  private readonly handBack = new AbortController();
  private readonly runner: QueryJobRunnerDeps;
  private started: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly deps: QueryJobSideDeps,
    opts: BullmqQueryJobConsumerOptions,
  ) {
    // A worker's blocking connection must wait for Redis as long as it takes (BullMQ requires null).
    this.connection = new Redis(deps.redis.url, { maxRetriesPerRequest: null });
    this.connection.on('error', () => {});
    this.runner = { query: deps.query, bus: deps.bus, settle: (job, patch) => deps.jobs.settle(job, patch), ...(deps.logger ? { logger: deps.logger } : {}) };
    this.worker = new Worker<QueryJobData>(QUERY_JOB_QUEUE, (job, token) => this.process(job, token), {
      connection: this.connection,
      ...(deps.redis.prefix ? { prefix: deps.redis.prefix } : {}),
      concurrency: opts.concurrency,
      autorun: false,
      ...(opts.lockDurationMs ? { lockDuration: opts.lockDurationMs } : {}),
      ...(opts.stalledIntervalMs ? { stalledInterval: opts.stalledIntervalMs } : {}),
    });
    this.worker.on('error', (err) => deps.logger?.warn({ err }, 'query job worker: Redis error'));
  }

  start(): Promise<void> {
    if (this.closing) return Promise.resolve();
    this.started ??= (async () => {
      void this.worker.run().catch((err: unknown) => this.deps.logger?.error({ err }, 'query job worker stopped'));
      await this.worker.waitUntilReady();
    })();
    return this.started;
  }

  close(deadlineMs: number): Promise<void> {
    this.closing ??= this.shutDown(deadlineMs);
    return this.closing;
  }

  private async shutDown(deadlineMs: number): Promise<void> {
    // Not forced: BullMQ stops fetching and waits for the running processors to return.
    const closed = this.worker.close().catch((err: unknown) => this.deps.logger?.warn({ err }, 'closing the query job worker failed'));
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([closed.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), deadlineMs)))]);
    clearTimeout(timer);
    if (!inTime) {
      this.handBack.abort(new QueryJobHandedBack());
      await closed;
    }
    this.connection.disconnect();
  }

  private async process(job: Job<QueryJobData>, token?: string): Promise<void> {
    const queryJob = await this.deps.jobs.load(job.data.taskId);
    if (!queryJob) return; // ended already, or deleted with its KB: a redelivery has nothing to do
    let release: () => void = () => {};
    try {
      release = await this.tenantSlot(queryJob.scope.tenantId);
      await runQueryJob(this.runner, queryJob, this.handBack.signal);
    } catch (err) {
      if (!(err instanceof QueryJobHandedBack)) throw err; // BullMQ retries; the reconciler after that
      // Back to the wait list without spending an attempt; the task stays `running` until a
      // worker claims it again (a claim is allowed from `running`).
      await job.moveToWait(token);
      throw new WaitingError();
    } finally {
      release();
    }
  }

  /** Waits until the tenant has a free query slot (or this worker shuts down and hands the job back). */
  private async tenantSlot(tenantId: string): Promise<() => void> {
    const admit = this.deps.admit;
    if (!admit) return () => {};
    for (;;) {
      try {
        return await admit(tenantId);
      } catch (err) {
        if (!(err instanceof AppError && err.status === 429)) throw err;
      }
      if (this.handBack.signal.aborted) throw new QueryJobHandedBack();
      await new Promise((r) => setTimeout(r, SLOT_POLL_MS));
    }
  }
}
