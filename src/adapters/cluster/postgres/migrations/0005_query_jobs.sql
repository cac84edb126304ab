-- /retrieve query jobs in cluster mode: what a worker needs to run one. BullMQ only schedules
-- the job (its data is the task id); the request lives here, so a Redis that restarts empty
-- loses nothing and the reconciler can enqueue the job again from this row. The row exists while
-- the task has not ended: the statement that ends the task deletes it (see query-job-sql.ts), and
-- it goes with its task (a KB deleted, an expired task purged).
CREATE TABLE query_jobs (
  task_id text PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
  tenant_id text NOT NULL,
  kb_id text NOT NULL,
  request jsonb NOT NULL,
  request_id text,
  -- deliveries that claimed the job (a redelivery after a crash or a Redis restart counts again)
  runs integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX query_jobs_by_age ON query_jobs (created_at);
