import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { AppError } from '../../../domain/errors.js';
import type { Scope, TaskView } from '../../../domain/types.js';
import type { QueryJobProducer } from '../../../ports/query-jobs.js';
import { overloaded } from '../../../services/admission.js';
import { newId } from '../../../services/ids.js';
import type { QueryRequest } from '../../../services/query/types.js';
import { addQueryJob, openQueryJobQueue, queueConnection, type QueryJobData, type QueryJobSideDeps } from './query-job-queue.js';

export interface BullmqQueryJobProducerOptions {
  /** How long a finished job's result stays readable (RAGD_RESULT_TTL_MS). */
  resultTtlMs: number;
  /** Jobs waiting across the cluster beyond this are refused with 503 overloaded. */
  maxQueued: number;
  /** Longest wait for Redis to take the job; past it the reconciler enqueues it later. */
  enqueueTimeoutMs?: number;
}

/**
 * The API node's side of the cluster query jobs: the task and its request are written to
 * PostgreSQL in one statement, then the job (its task id) is added to BullMQ. PostgreSQL is the
 * record: if Redis does not take the job (down, slow, or restarted later), the reconciler adds it
 * again, so the 202 already answered is kept.
 */
export class BullmqQueryJobProducer implements QueryJobProducer {
  private readonly connection: Redis;
  private readonly queue: Queue<QueryJobData>;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly deps: QueryJobSideDeps & { now?: () => Date },
    private readonly opts: BullmqQueryJobProducerOptions,
  ) {
    this.connection = queueConnection(deps.redis);
    // ioredis reports a lost connection as an 'error' event; the failed call says what matters.
    this.connection.on('error', () => {});
    this.queue = openQueryJobQueue(deps.redis, this.connection);
  }

  async submit(scope: Scope, req: QueryRequest, requestId?: string): Promise<TaskView> {
    if (this.closing) throw new AppError(503, 'shutting_down', 'the server is shutting down');
    await this.deps.query.assertKb(scope);
    if ((await this.deps.jobs.queued(this.opts.maxQueued)) >= this.opts.maxQueued) {
      throw overloaded('too many query jobs are waiting; retry in 1 s', 1);
    }
    const release = (await this.deps.admit?.(scope.tenantId)) ?? (() => {});
    try {
      const now = this.deps.now?.() ?? new Date();
      const job = { taskId: newId('task'), scope, req, ...(requestId ? { requestId } : {}) };
      const task = await this.deps.jobs.create(job, new Date(now.getTime() + this.opts.resultTtlMs), now);
      await this.deps.bus.publish({ tenantId: scope.tenantId, kbId: scope.kbId, task });
      await this.enqueue(task.id);
      return task;
    } finally {
      release();
    }
  }

  close(_deadlineMs: number): Promise<void> {
    this.closing ??= (async () => {
      await this.queue.close().catch(() => {});
      this.connection.disconnect();
    })();
    return this.closing;
  }

  private async enqueue(taskId: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('Redis did not take the job in time')), this.opts.enqueueTimeoutMs ?? 2_000);
    });
    try {
      await Promise.race([addQueryJob(this.queue, taskId), timeout]);
    } catch (err) {
      this.deps.logger?.warn({ err, taskId }, 'query job not enqueued yet; the reconciler will enqueue it');
    } finally {
      clearTimeout(timer);
    }
  }
}
