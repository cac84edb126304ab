import type { Pool } from 'pg';
import type { Scope, TaskEvent, TaskView } from '../../../domain/types.js';
import type { QueryJob } from '../../../ports/query-jobs.js';
import type { TaskPatch } from '../../../services/query/query-job-runner.js';
import type { QueryRequest } from '../../../services/query/types.js';
import * as SQL from './query-job-sql.js';
import { toTask, type TaskRow } from './rows.js';

/** Any fixed 64-bit number: names the query-job reconciler's lock among the database's advisory locks. */
const RECONCILE_LOCK = 7_240_118_005;

/**
 * The durable half of the cluster query jobs: the task and the request it runs from, written
 * together; the conditional settles; and what the reconciler reads. BullMQ holds only task ids.
 */
export class PostgresQueryJobs {
  constructor(private readonly pool: Pool) {}

  async create(job: QueryJob, expiresAt: Date, now: Date): Promise<TaskView> {
    const { taskId, scope, req, requestId } = job;
    const row = (
      await this.pool.query<TaskRow>(SQL.INSERT_QUERY_JOB, [taskId, scope.tenantId, scope.kbId, expiresAt, JSON.stringify(req), requestId ?? null, now])
    ).rows[0]!;
    return toTask(row);
  }

  /** The job to run, or null when its task has ended or is gone (nothing to do). */
  async load(taskId: string): Promise<QueryJob | null> {
    const row = (
      await this.pool.query<{ tenant_id: string; kb_id: string; request: string; request_id: string | null }>(SQL.SELECT_QUERY_JOB, [taskId])
    ).rows[0];
    if (!row) return null;
    const scope: Scope = { tenantId: row.tenant_id, kbId: row.kb_id };
    return { taskId, scope, req: JSON.parse(row.request) as QueryRequest, ...(row.request_id ? { requestId: row.request_id } : {}) };
  }

  /** Applies the patch unless the task has already ended; null then. */
  async settle(job: QueryJob, patch: TaskPatch): Promise<TaskView | null> {
    const row = (
      await this.pool.query<TaskRow>(SQL.SETTLE_QUERY_TASK, [
        job.taskId,
        job.scope.tenantId,
        patch.status ?? null,
        patch.error ?? null,
        patch.progress?.done ?? null,
        patch.progress?.total ?? null,
        patch.result === undefined ? null : JSON.stringify(patch.result),
      ])
    ).rows[0];
    return row ? toTask(row) : null;
  }

  /** Jobs waiting to run across the cluster, counted up to `limit`. */
  async queued(limit: number): Promise<number> {
    return (await this.pool.query<{ n: number }>(SQL.COUNT_QUEUED_QUERY_JOBS, [limit])).rows[0]!.n;
  }

  /** Unfinished, unexpired jobs created before `createdBefore`, oldest first. */
  async unfinished(createdBefore: Date, now: Date, limit: number): Promise<string[]> {
    return (await this.pool.query<{ task_id: string }>(SQL.UNFINISHED_QUERY_JOBS, [createdBefore, now, limit])).rows.map((r) => r.task_id);
  }

  /** Fails the unfinished jobs whose result would already have expired; the changes, to publish. */
  async failExpired(now: Date, error: string): Promise<TaskEvent[]> {
    const rows = (await this.pool.query<TaskRow>(SQL.FAIL_EXPIRED_QUERY_JOBS, [now, error])).rows;
    return rows.map((row) => ({ tenantId: row.tenant_id, kbId: row.kb_id, task: toTask(row) }));
  }

  /**
   * Runs `fn` while holding the reconciler's advisory lock (a transaction-level lock, released
   * with the transaction even if the process dies), or returns null at once when another process
   * holds it.
   */
  async whileReconcilerLockHeld<T>(fn: () => Promise<T>): Promise<T | null> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      try {
        const ok = (await client.query<{ ok: boolean }>(SQL.TRY_XACT_LOCK, [RECONCILE_LOCK])).rows[0]!.ok;
        return ok ? await fn() : null;
      } finally {
        await client.query('COMMIT');
      }
    } finally {
      client.release();
    }
  }
}
