import { randomUUID } from 'node:crypto';
import type { PipelineStage, TaskView } from '../../../domain/types.js';
import type { LeasedJob, NewJob, StageCounts, StageStart } from '../../../ports/job-queue.js';
import { pickFairJob } from './fair-lease.js';
import { transition } from './write-ops.js';
import type { Db } from './open.js';
import { prepareCached } from './statements.js';

/**
 * The SQLite job table's operations. Like write-ops, they run on the writer thread. A job row
 * exists only while its stage is pending or running; completing it deletes it and inserts the
 * next stage's row in the same transaction, so a crash can never lose the hand-off.
 */

interface JobRow {
  id: number;
  tenant_id: string;
  kb_id: string;
  document_id: string;
  task_id: string;
  stage: PipelineStage;
  priority: number;
  attempts: number;
  max_attempts: number;
  lease_token: string;
  lease_expires_at: number;
  last_error: string | null;
  trace_context: string | null;
}

function toLeased(row: JobRow): LeasedJob {
  return {
    id: String(row.id),
    scope: { tenantId: row.tenant_id, kbId: row.kb_id },
    documentId: row.document_id,
    taskId: row.task_id,
    stage: row.stage,
    priority: row.priority,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    leaseToken: row.lease_token,
    leaseExpiresAt: row.lease_expires_at,
    lastError: row.last_error,
    traceContext: row.trace_context,
  };
}

export function insertJob(db: Db, a: { job: NewJob; maxAttempts: number; runAt?: number }): string {
  const { job } = a;
  const now = Date.now();
  const id = prepareCached(
    db,
    `INSERT INTO jobs (tenant_id, kb_id, document_id, task_id, stage, status, priority, attempts, max_attempts, run_at, created_at, trace_context)
     VALUES (?, ?, ?, ?, ?, 'queued', ?, 0, ?, ?, ?, ?)`,
  ).run(
    job.scope.tenantId, job.scope.kbId, job.documentId, job.taskId, job.stage, job.priority ?? 100, a.maxAttempts, a.runAt ?? now, now,
    job.traceContext ?? null,
  ).lastInsertRowid;
  return String(id);
}

/**
 * Leases the next runnable job: queued and due, or running under a lease that has expired
 * (its worker died). Every lease counts as an attempt: a job leased past its last attempt (its
 * workers kept dying) comes back with attempts > maxAttempts and the pipeline fails it. Which job
 * is weighted-fair across tenants (fair-lease.ts), so one bulk upload cannot hold every slot.
 */
export function leaseJob(db: Db, a: { stages: readonly PipelineStage[]; owner: string; leaseMs: number }): LeasedJob | null {
  const now = Date.now();
  return db.transaction(() => {
    const id = pickFairJob(db, a.stages, now);
    if (id === null) return null;
    const token = randomUUID();
    prepareCached(
      db,
      `UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = ?, lease_token = ?, lease_expires_at = ? WHERE id = ?`,
    ).run(a.owner, token, now + a.leaseMs, id);
    return toLeased(prepareCached(db, 'SELECT * FROM jobs WHERE id = ?').get(id) as JobRow);
  }).immediate();
}

/**
 * A lease and its stage's start on the document and task, in one transaction (see
 * JobQueue.leaseAndStart): the pipeline's two writer calls a stage become one.
 */
export function leaseAndStartJob(
  db: Db,
  a: { stages: readonly PipelineStage[]; owner: string; leaseMs: number; start: StageStart },
): { job: LeasedJob; task: TaskView | null } | null {
  return db.transaction(() => {
    const job = leaseJob(db, a);
    if (!job) return null;
    // Past its last attempt the pipeline fails the job at once: there is nothing to start.
    if (job.attempts > job.maxAttempts) return { job, task: null };
    const { start } = a;
    const task = transition(db, {
      scope: job.scope, documentId: job.documentId, taskId: job.taskId, status: start.status, stage: start.stage,
      taskStatus: 'running', progress: start.progress, error: job.lastError === null ? null : `${start.retryNote}${job.lastError}`,
    });
    return { job, task };
  }).immediate();
}

export { schedWeights, setTenantWeights } from './fair-lease.js';

export function heartbeat(db: Db, a: { id: string; token: string; leaseMs: number }): boolean {
  return (
    prepareCached(db, `UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND lease_token = ? AND status = 'running'`)
      .run(Date.now() + a.leaseMs, Number(a.id), a.token).changes === 1
  );
}

export function completeJob(db: Db, a: { id: string; token: string; next: NewJob | null; maxAttempts: number }): boolean {
  return db.transaction(() => {
    const done = prepareCached(db, `DELETE FROM jobs WHERE id = ? AND lease_token = ? AND status = 'running'`).run(Number(a.id), a.token).changes;
    if (done !== 1) return false;
    if (a.next) insertJob(db, { job: a.next, maxAttempts: a.maxAttempts });
    return true;
  }).immediate();
}

export function failJob(db: Db, a: { id: string; token: string; error: string; retryAt: number | null }): boolean {
  const changes =
    a.retryAt === null
      ? prepareCached(db, `UPDATE jobs SET status = 'dead', lease_owner = NULL, lease_token = NULL, last_error = ? WHERE id = ? AND lease_token = ? AND status = 'running'`)
          .run(a.error, Number(a.id), a.token).changes
      : prepareCached(
          db,
          `UPDATE jobs SET status = 'queued', run_at = ?, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, last_error = ?
           WHERE id = ? AND lease_token = ? AND status = 'running'`,
        ).run(a.retryAt, a.error, Number(a.id), a.token).changes;
  return changes === 1;
}

/** Puts a leased job back, due at `runAt`, giving back the attempt its lease took (see JobQueue.postpone). */
export function postponeJob(db: Db, a: { id: string; token: string; reason: string; runAt: number }): boolean {
  return (
    prepareCached(
      db,
      `UPDATE jobs SET status = 'queued', attempts = max(attempts - 1, 0), run_at = ?, last_error = ?, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
       WHERE id = ? AND lease_token = ? AND status = 'running'`,
    ).run(a.runAt, a.reason, Number(a.id), a.token).changes === 1
  );
}

export function reviveDocumentJob(db: Db, a: { tenantId: string; kbId: string; documentId: string }): PipelineStage | null {
  const row = prepareCached(
    db,
    `UPDATE jobs SET status = 'queued', attempts = 0, run_at = ?, last_error = NULL, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
     WHERE document_id = ? AND tenant_id = ? AND kb_id = ? AND status = 'dead' RETURNING stage`,
  ).get(Date.now(), a.documentId, a.tenantId, a.kbId) as { stage: PipelineStage } | undefined;
  return row?.stage ?? null;
}

export function cancelDocumentJobs(db: Db, a: { documentId: string }): number {
  return prepareCached(db, 'DELETE FROM jobs WHERE document_id = ?').run(a.documentId).changes;
}

/** Hands back an owner's leases: the jobs become runnable again at once, without using up an attempt. */
export function releaseOwner(db: Db, a: { owner: string }): number {
  return prepareCached(
    db,
    `UPDATE jobs SET status = 'queued', attempts = max(attempts - 1, 0), run_at = ?, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
     WHERE lease_owner = ? AND status = 'running'`,
  ).run(Date.now(), a.owner).changes;
}

export function listLeaseOwners(db: Db): string[] {
  return prepareCached(db, `SELECT DISTINCT lease_owner FROM jobs WHERE status = 'running' AND lease_owner IS NOT NULL`).pluck().all() as string[];
}

/** Expires the leases of owners that are known to be dead, so their jobs are taken over now. */
export function expireOwners(db: Db, a: { owners: string[] }): number {
  const stmt = prepareCached(db, `UPDATE jobs SET lease_expires_at = 0 WHERE lease_owner = ? AND status = 'running'`);
  return db.transaction(() => a.owners.reduce((n, o) => n + stmt.run(o).changes, 0)).immediate();
}

export function stageCounts(db: Db): Record<PipelineStage, StageCounts> {
  const out: Record<PipelineStage, StageCounts> = {
    parse: { waiting: 0, active: 0, failed: 0 },
    ocr: { waiting: 0, active: 0, failed: 0 },
    chunk: { waiting: 0, active: 0, failed: 0 },
    embed: { waiting: 0, active: 0, failed: 0 },
    index: { waiting: 0, active: 0, failed: 0 },
  };
  const rows = prepareCached(db, 'SELECT stage, status, count(*) n FROM jobs GROUP BY stage, status').all() as {
    stage: PipelineStage;
    status: string;
    n: number;
  }[];
  for (const r of rows) {
    const c = out[r.stage];
    if (!c) continue;
    if (r.status === 'queued') c.waiting += r.n;
    else if (r.status === 'running') c.active += r.n;
    else if (r.status === 'dead') c.failed += r.n;
  }
  return out;
}
