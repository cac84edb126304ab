import type { Scope, TaskView } from '../domain/types.js';
import type { QueryHooks, QueryRequest, QueryResult } from '../services/query/types.js';

/**
 * `/retrieve` query jobs: a query run as a task, its answer landing in the task's result.
 *
 * Two sides, so a cluster process can run only one of them (STYLE §2.6):
 * - the producer (the API node) admits a job, creates its task with its expiry, keeps what is
 *   needed to run it and enqueues it;
 * - the consumer (a worker; in embedded mode the same process) runs jobs under a concurrency cap
 *   and settles each task `running` → `succeeded` / `failed`, publishing every change on the
 *   event bus.
 *
 * Embedded: `RetrieveJobs` (src/services/query/retrieve-jobs.ts) is both sides in one object, a
 * wait list in memory. Cluster: `BullmqQueryJobProducer` / `BullmqQueryJobConsumer` /
 * `QueryJobReconciler` (src/adapters/cluster/bullmq/), the request kept in PostgreSQL and a BullMQ
 * queue that only schedules it, so a Redis that restarts empty loses no job.
 *
 * Delivery is at least once (re-running a query is harmless), but a task ends once: every settle
 * is conditional on the task not having ended, and a delivery that finds it ended does nothing.
 */
export interface QueryJobProducer {
  /**
   * Checks the KB, admits the job (503 `overloaded` when too many wait, 429 when the tenant is at
   * its concurrent-query limit), creates the `queued` task and enqueues the job.
   */
  submit(scope: Scope, req: QueryRequest, requestId?: string): Promise<TaskView>;
  /** Takes no more jobs (503 `shutting_down`). Idempotent. */
  close(deadlineMs: number): Promise<void>;
}

export interface QueryJobConsumer {
  /** Starts taking jobs. Idempotent. */
  start(): Promise<void>;
  /**
   * Stops taking jobs, lets running ones finish until the deadline, then aborts them; a job cut
   * short is handed back to the queue (cluster) or failed (embedded, where nobody else could run it).
   * Idempotent: a second call returns the first call's promise.
   */
  close(deadlineMs: number): Promise<void>;
}

/** What a consumer needs to run one job, as the producer kept it. */
export interface QueryJob {
  taskId: string;
  scope: Scope;
  req: QueryRequest;
  /** The submitting HTTP request, named in the model providers' log lines for this job. */
  requestId?: string;
}

/** What answers a query: QueryService, or a stand-in in tests. */
export interface QueryRunner {
  /** Throws 404 when the KB does not exist in the scope's tenant. */
  assertKb(scope: Scope): Promise<unknown>;
  run(scope: Scope, req: QueryRequest, hooks?: QueryHooks): Promise<QueryResult>;
}
