import type { PipelineStage } from '../../../domain/types.js';

/**
 * Every statement of the BullMQ queue, its relay and its reconciler, on the `pipeline_jobs` row
 * (migrations 0001 and 0004). The row is the record of a document's pending stage; BullMQ only
 * schedules it. Every statement that settles an attempt names the attempt's fence, so a stale
 * attempt changes nothing.
 */

export interface PipelineRow {
  document_id: string;
  tenant_id: string;
  kb_id: string;
  task_id: string;
  stage: PipelineStage;
  fence: number;
  attempts: number;
  max_attempts: number;
  trace_context: string | null;
  generation: number;
  state: 'queued' | 'running' | 'failed';
  due_at: string | null;
  priority: number;
  last_error: string | null;
}

/** What a BullMQ job carries: enough to find its row; everything else is read from the row. */
export interface JobData {
  documentId: string;
  stage: PipelineStage;
  generation: number;
}

/**
 * Deterministic: the relay, a second relay and the reconciler all add the same id for the same
 * row state, and BullMQ keeps one. `:` separates nothing BullMQ parses (its keys are
 * `<prefix>:<queue>:<id>`); document ids never contain one.
 */
export function bullJobId(r: { document_id: string; stage: string; generation: number }): string {
  return `${r.document_id}:${r.stage}:${r.generation}`;
}

/**
 * $1 document, $2 stage, $3 generation, $4 owner. The attempt's claim: bumps the fence and the
 * attempts, only while the row is still at that stage and generation (a job of an earlier
 * generation, a finished or a deleted document claims nothing). → the row
 */
export const CLAIM = `
  UPDATE pipeline_jobs SET fence = fence + 1, attempts = attempts + 1, state = 'running', lease_owner = $4, updated_at = now()
  WHERE document_id = $1 AND stage = $2 AND generation = $3 AND state <> 'failed'
  RETURNING *`;

/** $1 document, $2 fence. The attempt still holds the row. */
export const HOLDS = `SELECT 1 FROM pipeline_jobs WHERE document_id = $1 AND fence = $2 AND state = 'running'`;

/**
 * $1 document, $2 fence, $3 next stage, $4 priority, $5 trace context. The stage is done: the
 * row moves on to the next stage with fresh attempts, unsent (the relay hands it to BullMQ).
 */
export const ADVANCE = `
  UPDATE pipeline_jobs SET stage = $3, priority = $4, trace_context = $5, generation = generation + 1, state = 'queued',
    attempts = 0, due_at = NULL, last_error = NULL, lease_owner = NULL, enqueued_at = NULL, updated_at = now()
  WHERE document_id = $1 AND fence = $2 AND state = 'running'
  RETURNING *`;

/** $1 document, $2 fence. The last stage is done (the index commit usually deleted the row already). */
export const FINISH = `DELETE FROM pipeline_jobs WHERE document_id = $1 AND fence = $2`;

/** $1 document. Whether the document still has a row at all. */
export const EXISTS = `SELECT fence FROM pipeline_jobs WHERE document_id = $1`;

/** $1 document, $2 fence, $3 error, $4 due (epoch ms). A retry: a new generation, due later. */
export const RETRY = `
  UPDATE pipeline_jobs SET state = 'queued', generation = generation + 1, due_at = to_timestamp($4::double precision / 1000),
    last_error = $3, lease_owner = NULL, enqueued_at = NULL, updated_at = now()
  WHERE document_id = $1 AND fence = $2 AND state = 'running'
  RETURNING *`;

/**
 * $1 document, $2 fence, $3 reason, $4 due (epoch ms). Put back without using up the attempt (the
 * disk was full: not the document's fault), due later, as a new generation, unsent.
 */
export const POSTPONE = `
  UPDATE pipeline_jobs SET state = 'queued', attempts = greatest(attempts - 1, 0), generation = generation + 1,
    due_at = to_timestamp($4::double precision / 1000), last_error = $3, lease_owner = NULL, enqueued_at = NULL, updated_at = now()
  WHERE document_id = $1 AND fence = $2 AND state = 'running'
  RETURNING *`;

/** $1 document, $2 fence, $3 error. Buried: stays until revived or the document is deleted. */
export const BURY = `
  UPDATE pipeline_jobs SET state = 'failed', last_error = $3, lease_owner = NULL, updated_at = now()
  WHERE document_id = $1 AND fence = $2 AND state = 'running'
  RETURNING *`;

/**
 * $1 document, $2 fence. Handed back at shutdown: runnable again at once, without using up an
 * attempt. The fence is bumped too, so the attempt that held it can settle nothing afterwards.
 */
export const HAND_BACK = `
  UPDATE pipeline_jobs SET state = 'queued', attempts = greatest(attempts - 1, 0), fence = fence + 1, generation = generation + 1,
    due_at = NULL, lease_owner = NULL, enqueued_at = NULL, updated_at = now()
  WHERE document_id = $1 AND fence = $2 AND state = 'running'
  RETURNING *`;

/** $1 document, $2 tenant, $3 kb. A buried row, revived with fresh attempts, unsent. → stage */
export const REVIVE = `
  UPDATE pipeline_jobs SET state = 'queued', attempts = 0, fence = fence + 1, generation = generation + 1, due_at = NULL,
    last_error = NULL, lease_owner = NULL, enqueued_at = NULL, updated_at = now()
  WHERE document_id = $1 AND tenant_id = $2 AND kb_id = $3 AND state = 'failed'
  RETURNING stage`;

/** $1 document. → the deleted row (its BullMQ job is removed too) */
export const CANCEL = `DELETE FROM pipeline_jobs WHERE document_id = $1 RETURNING document_id, stage, generation`;

/**
 * $1 document, $2 tenant, $3 kb, $4 task, $5 stage, $6 max attempts, $7 trace context, $8 priority.
 * A producer's job outside createDocument: the document's row is (re)set to that stage.
 */
export const UPSERT = `
  INSERT INTO pipeline_jobs (document_id, tenant_id, kb_id, task_id, stage, max_attempts, trace_context, priority)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
  ON CONFLICT (document_id) DO UPDATE SET task_id = $4, stage = $5, max_attempts = $6, trace_context = $7, priority = $8,
    generation = pipeline_jobs.generation + 1, fence = pipeline_jobs.fence + 1, state = 'queued', attempts = 0,
    due_at = NULL, last_error = NULL, lease_owner = NULL, enqueued_at = NULL, updated_at = now()
  RETURNING *`;

/** Buried rows by stage: failed is counted from PostgreSQL, which keeps them (Redis may not). */
export const FAILED_BY_STAGE = `SELECT stage, count(*)::int AS n FROM pipeline_jobs WHERE state = 'failed' GROUP BY stage`;

// The outbox relay (outbox-relay.ts).

/**
 * $1 limit. The oldest unsent live rows, with what their priority is made of. A `running` row is
 * unsent only when the reconciler found its job lost with Redis: it is handed out again, and the
 * attempt that held it is fenced out by the next claim.
 */
export const UNSENT = `
  WITH unsent AS (
    SELECT j.*, d.bytes FROM pipeline_jobs j JOIN documents d ON d.id = j.document_id
    WHERE j.enqueued_at IS NULL AND j.state <> 'failed'
    ORDER BY j.created_at LIMIT $1
  ), live AS (
    -- Counted once per tenant in the batch, not once per row.
    SELECT tenant_id, count(*)::int AS n FROM pipeline_jobs
    WHERE state <> 'failed' AND tenant_id IN (SELECT DISTINCT tenant_id FROM unsent)
    GROUP BY tenant_id
  )
  SELECT u.*, l.n AS tenant_live FROM unsent u JOIN live l USING (tenant_id)
  ORDER BY u.created_at`;

/** $1 document ids, $2 their generations. Only the generation that was added counts as sent. → row count */
export const MARK_SENT = `
  UPDATE pipeline_jobs j SET enqueued_at = now()
  FROM unnest($1::text[], $2::int[]) AS s(document_id, generation)
  WHERE j.document_id = s.document_id AND j.generation = s.generation AND j.enqueued_at IS NULL`;

// The reconciler (reconciler.ts).

/** $1 cutoff (epoch ms). Rows handed to BullMQ before it, still live. → document_id, stage, generation */
export const SENT_ROWS = `
  SELECT document_id, stage, generation FROM pipeline_jobs
  WHERE enqueued_at IS NOT NULL AND state <> 'failed' AND enqueued_at <= to_timestamp($1::double precision / 1000)`;

/** $1 document ids, $2 generations. Back to the outbox, unless the row moved on meanwhile. → row count */
export const UNSEND = `
  UPDATE pipeline_jobs j SET enqueued_at = NULL
  FROM unnest($1::text[], $2::int[]) AS s(document_id, generation)
  WHERE j.document_id = s.document_id AND j.generation = s.generation AND j.enqueued_at IS NOT NULL`;

/** $1 cutoff (epoch ms). Rows unsent since before it: their relay never got to them. → n */
export const STALE_UNSENT = `
  SELECT count(*)::int AS n FROM pipeline_jobs
  WHERE enqueued_at IS NULL AND state <> 'failed' AND updated_at <= to_timestamp($1::double precision / 1000)`;
