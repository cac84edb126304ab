/**
 * The statements of the cluster query jobs (postgres-query-jobs.ts), over `tasks` and
 * `query_jobs` (migration 0005). Times are parameters, from the caller's clock.
 */

/**
 * $1 task id, $2 tenant, $3 kb, $4 expires at, $5 request (json), $6 request id (or null),
 * $7 created at. The `queued` retrieve task and the request a worker runs it from, in one
 * statement. → the task row
 */
export const INSERT_QUERY_JOB = `
  WITH task AS (
    INSERT INTO tasks (id, tenant_id, kb_id, kind, status, progress_done, progress_total, expires_at, created_at, updated_at)
    VALUES ($1, $2, $3, 'retrieve', 'queued', 0, 1, $4, $7, $7) RETURNING *
  ), job AS (
    INSERT INTO query_jobs (task_id, tenant_id, kb_id, request, request_id, created_at)
    SELECT id, tenant_id, kb_id, $5::jsonb, $6, $7 FROM task
  )
  SELECT * FROM task`;

/** $1 task id. What a worker runs; no row once the task has ended. → tenant_id, kb_id, request (json text), request_id */
export const SELECT_QUERY_JOB = `
  SELECT q.tenant_id, q.kb_id, q.request, q.request_id
  FROM query_jobs q JOIN tasks t ON t.id = q.task_id
  WHERE q.task_id = $1 AND t.status IN ('queued', 'running')`;

/**
 * $1 task id, $2 tenant, $3 status, $4 error, $5 progress done, $6 progress total, $7 result
 * (json); a null leaves the column as it is. Applies only while the task has not ended, so two
 * deliveries of one job can never end it twice. Claiming (`running`) counts a run; ending
 * (`succeeded`/`failed`) deletes the job's row in the same statement. → the task row, or none
 * when it had already ended
 */
export const SETTLE_QUERY_TASK = `
  WITH settled AS (
    UPDATE tasks SET status = $3, error = COALESCE($4, error),
      progress_done = COALESCE($5, progress_done), progress_total = COALESCE($6, progress_total),
      result = COALESCE($7::jsonb, result), version = version + 1, updated_at = now()
    WHERE id = $1 AND tenant_id = $2 AND status IN ('queued', 'running')
    RETURNING *
  ), claimed AS (
    UPDATE query_jobs q SET runs = runs + 1 FROM settled s WHERE q.task_id = s.id AND s.status = 'running'
  ), ended AS (
    DELETE FROM query_jobs q USING settled s WHERE q.task_id = s.id AND s.status IN ('succeeded', 'failed')
  )
  SELECT * FROM settled`;

/**
 * $1 limit. Query jobs waiting to run, across the cluster, counted up to the limit (the
 * producer's back-pressure). → n
 */
export const COUNT_QUEUED_QUERY_JOBS = `
  SELECT count(*)::int AS n FROM (
    SELECT 1 FROM query_jobs q JOIN tasks t ON t.id = q.task_id WHERE t.status = 'queued' LIMIT $1
  ) waiting`;

/**
 * $1 created before, $2 now, $3 limit. Unfinished, unexpired jobs old enough that their BullMQ
 * job should exist: the reconciler's candidates, oldest first. → task_id
 */
export const UNFINISHED_QUERY_JOBS = `
  SELECT q.task_id FROM query_jobs q JOIN tasks t ON t.id = q.task_id
  WHERE t.status IN ('queued', 'running') AND q.created_at < $1 AND (t.expires_at IS NULL OR t.expires_at > $2)
  ORDER BY q.created_at LIMIT $3`;

/**
 * $1 now, $2 error. Fails the jobs whose result would already have expired: nobody is waiting
 * for them any more. → the task rows
 */
export const FAIL_EXPIRED_QUERY_JOBS = `
  WITH settled AS (
    UPDATE tasks t SET status = 'failed', error = $2, version = version + 1, updated_at = now()
    FROM query_jobs q
    WHERE q.task_id = t.id AND t.status IN ('queued', 'running') AND t.expires_at <= $1
    RETURNING t.*
  ), ended AS (
    DELETE FROM query_jobs q USING settled s WHERE q.task_id = s.id
  )
  SELECT * FROM settled`;

/** $1 lock key. Held until the transaction ends; false when another process holds it. → ok */
export const TRY_XACT_LOCK = `SELECT pg_try_advisory_xact_lock($1) AS ok`;
