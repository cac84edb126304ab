import type { Logger } from 'pino';
import { AppError } from '../../domain/errors.js';
import type { TaskView } from '../../domain/types.js';
import type { EventBus } from '../../ports/event-bus.js';
import type { QueryJob, QueryRunner } from '../../ports/query-jobs.js';
import type { Store } from '../../ports/store.js';

export type TaskPatch = Parameters<Store['updateTask']>[2];

/**
 * Records one state change of a job's task. Returns null when the task has already ended (or is
 * gone), so a second delivery of the same job can never end it a second time.
 */
export type SettleTask = (job: QueryJob, patch: TaskPatch) => Promise<TaskView | null>;

/**
 * The abort reason of a consumer that gives a running job back to its queue (a worker shutting
 * down past its deadline): the job is left unsettled for another worker, not failed.
 */
export class QueryJobHandedBack extends Error {
  constructor() {
    super('the worker shut down before the query finished; the job goes back to the queue');
  }
}

export interface QueryJobRunnerDeps {
  query: QueryRunner;
  bus: EventBus;
  settle: SettleTask;
  logger?: Logger;
}

/**
 * Runs one query job, the same way in both modes: `running`, then the answer as the task's result
 * (`succeeded`) or the error (`failed`), each change published on the bus. A task that had already
 * ended when the job arrived is left alone (a redelivery). Throws only when the job was handed back
 * (`QueryJobHandedBack` as the signal's reason) or its outcome could not be recorded, so the
 * queue delivers it again.
 */
export async function runQueryJob(deps: QueryJobRunnerDeps, job: QueryJob, signal: AbortSignal): Promise<'settled' | 'skipped'> {
  const publish = (task: TaskView) => deps.bus.publish({ tenantId: job.scope.tenantId, kbId: job.scope.kbId, task });
  const running = await deps.settle(job, { status: 'running' });
  if (!running) return 'skipped';
  await publish(running);
  let patch: TaskPatch;
  try {
    const result = await deps.query.run(job.scope, job.req, { signal, ...(job.requestId ? { requestId: job.requestId } : {}) });
    patch = { status: 'succeeded', progress: { done: 1, total: 1 }, result };
  } catch (err) {
    if (signal.aborted && signal.reason instanceof QueryJobHandedBack) throw signal.reason;
    if (!(err instanceof AppError)) deps.logger?.error({ err, taskId: job.taskId }, 'query job failed');
    patch = { status: 'failed', error: err instanceof AppError ? `${err.code}: ${err.message}` : 'internal error' };
  }
  const ended = await deps.settle(job, patch);
  if (ended) await publish(ended);
  return 'settled';
}
