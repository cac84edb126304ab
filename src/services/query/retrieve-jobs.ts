import { AsyncResource } from 'node:async_hooks';
import type { Logger } from 'pino';
import { AppError } from '../../domain/errors.js';
import type { Scope, TaskView } from '../../domain/types.js';
import type { EventBus } from '../../ports/event-bus.js';
import type { QueryJob, QueryJobConsumer, QueryJobProducer, QueryRunner } from '../../ports/query-jobs.js';
import type { Store } from '../../ports/store.js';
import { overloaded } from '../admission.js';
import { newId } from '../ids.js';
import { runQueryJob, type TaskPatch } from './query-job-runner.js';
import type { QueryRequest } from './types.js';

export interface RetrieveJobsOptions {
  /** How long a finished job's result stays readable. */
  resultTtlMs: number;
  /** Jobs answered at once; the rest wait in memory, in arrival order. */
  concurrency: number;
  /** Waiting jobs beyond this are refused with 503 overloaded rather than piling up. */
  maxQueued: number;
  /** How often expired results are purged (default: a tenth of the TTL, between 1 s and 60 s). */
  purgeIntervalMs?: number;
}

interface Job extends QueryJob {
  /** Runs the job in the async context of the request that submitted it (its trace, when tracing is on). */
  inSubmitterContext: <T>(fn: () => T) => T;
  /** Gives back the tenant's query slot once the job has settled. */
  release: () => void;
}

/**
 * POST /retrieve in one process (the embedded query-jobs adapter, both sides of the port): the
 * task row (with its expiry) is created at once, the job waits in memory and runs under a
 * concurrency cap, and every state change is published on the event bus, so GET /tasks/{id} and
 * its SSE stream see the result land. Nothing else could run a job this process accepted, so
 * `close` fails the jobs that never ran rather than handing them back.
 */
export class RetrieveJobs implements QueryJobProducer, QueryJobConsumer {
  private readonly waiting: Job[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly stop = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly deps: {
      store: Store;
      bus: EventBus;
      query: QueryRunner;
      logger?: Logger;
      /** Counts the job against the tenant's concurrent-query limit from submit until it settles (429 when full). */
      admit?: (tenantId: string) => Promise<() => void>;
    },
    private readonly opts: RetrieveJobsOptions,
  ) {}

  /** Starts the purge of expired results; jobs run as they are submitted. */
  start(): Promise<void> {
    if (this.timer || this.closing) return Promise.resolve();
    const every = this.opts.purgeIntervalMs ?? Math.min(60_000, Math.max(1_000, Math.floor(this.opts.resultTtlMs / 10)));
    this.timer = setInterval(() => void this.purge(), every);
    this.timer.unref();
    return Promise.resolve();
  }

  async purge(now = new Date()): Promise<number> {
    try {
      return await this.deps.store.purgeExpiredTasks(now);
    } catch (err) {
      this.deps.logger?.warn({ err }, 'purging expired query results failed');
      return 0;
    }
  }

  async submit(scope: Scope, req: QueryRequest, requestId?: string): Promise<TaskView> {
    if (this.closing) throw new AppError(503, 'shutting_down', 'the server is shutting down');
    await this.deps.query.assertKb(scope);
    if (this.waiting.length >= this.opts.maxQueued) {
      throw overloaded('too many query jobs are waiting; retry in 1 s', 1);
    }
    const release = (await this.deps.admit?.(scope.tenantId)) ?? (() => {});
    let task: TaskView;
    try {
      task = await this.deps.store.createTask({
        id: newId('task'),
        tenantId: scope.tenantId,
        kbId: scope.kbId,
        kind: 'retrieve',
        expiresAt: new Date(Date.now() + this.opts.resultTtlMs).toISOString(),
      });
      await this.deps.bus.publish({ tenantId: scope.tenantId, kbId: scope.kbId, task });
    } catch (err) {
      release();
      throw err;
    }
    // Without this the job would run in whatever context pumps it: often another job's request.
    const inSubmitterContext = AsyncResource.bind(<T>(fn: () => T): T => fn());
    this.waiting.push({ scope, taskId: task.id, req, release, inSubmitterContext, ...(requestId ? { requestId } : {}) });
    this.pump();
    return task;
  }

  /** Stops taking jobs, lets running ones finish until the deadline, and fails what never ran. */
  close(deadlineMs: number): Promise<void> {
    this.closing ??= this.shutDown(deadlineMs);
    return this.closing;
  }

  private async shutDown(deadlineMs: number): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const abandoned = this.waiting.splice(0);
    const finished = Promise.all([...this.running]).then(() => true);
    const inTime = await Promise.race([finished, new Promise<boolean>((r) => setTimeout(() => r(false), deadlineMs).unref())]);
    if (!inTime) {
      this.stop.abort(new AppError(503, 'shutting_down', 'the server shut down before the query finished'));
      await finished;
    }
    for (const job of abandoned) {
      job.release();
      await this.fail(job, 'the server shut down before the query ran');
    }
  }

  private pump(): void {
    while (!this.closing && this.running.size < this.opts.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      const run = job.inSubmitterContext(() => this.execute(job)).finally(() => {
        job.release();
        this.running.delete(run);
        this.pump();
      });
      this.running.add(run);
    }
  }

  private async execute(job: Job): Promise<void> {
    const deps = { query: this.deps.query, bus: this.deps.bus, settle: this.settle, ...(this.deps.logger ? { logger: this.deps.logger } : {}) };
    try {
      await runQueryJob(deps, job, this.stop.signal);
    } catch (err) {
      // Only the store or the bus can fail here; the task must still end.
      this.deps.logger?.error({ err, taskId: job.taskId }, 'query job failed');
      await this.fail(job, 'internal error').catch((e: unknown) =>
        this.deps.logger?.error({ err: e, taskId: job.taskId }, 'could not record a failed query job'),
      );
    }
  }

  /** One runner per task in this process, so the plain update is already "once". */
  private readonly settle = (job: QueryJob, patch: TaskPatch): Promise<TaskView | null> =>
    this.deps.store.updateTask(job.scope.tenantId, job.taskId, patch);

  private async fail(job: QueryJob, error: string): Promise<void> {
    const task = await this.settle(job, { status: 'failed', error });
    if (task) await this.deps.bus.publish({ tenantId: job.scope.tenantId, kbId: job.scope.kbId, task });
  }
}
