import type { PipelineStage } from '../../../domain/types.js';
import type { Db } from './open.js';
import { prepareCached } from './statements.js';

/**
 * Which job a lease takes: weighted-fair across tenants, not FIFO over everyone.
 *
 * Start-time fair queueing. Every tenant has a virtual time `vtime` (tenant_sched); the system
 * has one too, `clock` (sched_clock: the start tag of the last job leased). A tenant's next job
 * starts at `max(vtime, clock)`: a tenant that was idle re-enters at the present and cannot cash
 * in credit for the time it sent nothing. The lease goes to the tenant whose next job starts
 * earliest; leasing charges it `1 / weight`. So with equal weights tenants take turns, a weight-2
 * tenant gets two leases per turn, and a tenant that uploads one document while another has 2,000
 * queued gets the very next slot of each stage.
 *
 * Priority still comes first (lower runs first), then the start tag, then the oldest due job.
 *
 * Cost: one probe of the `jobs_fair` index per tenant that has jobs (tenant_sched.jobs, kept by
 * triggers), so a lease costs O(active tenants × log jobs) however large the backlog or the number
 * of idle tenants, never a scan of the job table.
 *
 * Why the weights live in a table rather than being passed in with each lease: the decision runs
 * inside the writer thread's transaction and has to cover every tenant with runnable jobs,
 * including ones this process never served (jobs enqueued by `ragd ingest` on the same data dir,
 * or before a restart). The queue adapter copies `TenantLimits.pipelineWeight` into the table
 * (see SqliteJobQueue); a weight missing there counts as 1. The vtimes must be durable anyway,
 * so a restart does not hand the biggest tenant a fresh start.
 */

interface Candidate {
  job_id: number;
  tenant_id: string;
  start: number;
  weight: number;
  priority: number;
  run_at: number;
}

const NEXT_PER_TENANT = `
  SELECT c.tenant_id, c.start, c.weight, j.id AS job_id, j.priority, j.run_at
  FROM (
    SELECT s.tenant_id, max(s.vtime, @clock) AS start, s.weight,
      (SELECT q.id FROM jobs q INDEXED BY jobs_fair
        WHERE q.tenant_id = s.tenant_id AND q.stage = @stage AND q.status = 'queued' AND q.run_at <= @now
        ORDER BY q.priority, q.run_at, q.id LIMIT 1) AS job_id
    FROM tenant_sched s INDEXED BY tenant_sched_active WHERE s.jobs > 0
  ) c JOIN jobs j ON j.id = c.job_id
  ORDER BY j.priority, c.start, j.run_at, j.id
  LIMIT 1`;

/**
 * A job whose worker died (lease expired) is taken over first: it was already chosen fairly and
 * charged when first leased. Running jobs are few (the in-flight slots), so this walk is short.
 */
const EXPIRED = `
  SELECT id FROM jobs WHERE stage = ? AND status = 'running' AND lease_expires_at <= ?
  ORDER BY priority, run_at, id LIMIT 1`;

function better(a: Candidate, b: Candidate | null): boolean {
  if (!b) return true;
  if (a.priority !== b.priority) return a.priority < b.priority;
  if (a.start !== b.start) return a.start < b.start;
  if (a.run_at !== b.run_at) return a.run_at < b.run_at;
  return a.job_id < b.job_id;
}

/** Picks the job to lease and charges its tenant. Call inside the lease transaction. */
export function pickFairJob(db: Db, stages: readonly PipelineStage[], now: number): number | null {
  const expired = prepareCached(db, EXPIRED);
  for (const stage of stages) {
    const row = expired.get(stage, now) as { id: number } | undefined;
    if (row) return row.id;
  }
  const clock = prepareCached(db, 'SELECT vtime FROM sched_clock WHERE id = 1').pluck().get() as number;
  const next = prepareCached(db, NEXT_PER_TENANT);
  let best: Candidate | null = null;
  for (const stage of stages) {
    const c = next.get({ clock, stage, now }) as Candidate | undefined;
    if (c && better(c, best)) best = c;
  }
  if (!best) return null;
  prepareCached(db, 'UPDATE tenant_sched SET vtime = ? WHERE tenant_id = ?').run(best.start + 1 / best.weight, best.tenant_id);
  prepareCached(db, 'UPDATE sched_clock SET vtime = ? WHERE id = 1').run(best.start);
  return best.job_id;
}

/** Every tenant with the weight the scheduler uses for it now. */
export function schedWeights(db: Db): { tenantId: string; weight: number }[] {
  return prepareCached(db, 'SELECT t.id AS tenantId, coalesce(s.weight, 1) AS weight FROM tenants t LEFT JOIN tenant_sched s ON s.tenant_id = t.id').all() as { tenantId: string; weight: number }[];
}

export function setTenantWeights(db: Db, a: { weights: { tenantId: string; weight: number }[] }): void {
  const upsert = prepareCached(
    db,
    `INSERT INTO tenant_sched (tenant_id, weight, vtime) VALUES (?, ?, 0)
     ON CONFLICT (tenant_id) DO UPDATE SET weight = excluded.weight`,
  );
  db.transaction(() => {
    for (const w of a.weights) upsert.run(w.tenantId, w.weight);
  }).immediate();
}
