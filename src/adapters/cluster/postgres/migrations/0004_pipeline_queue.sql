-- The pipeline queue on BullMQ (src/adapters/cluster/bullmq/). A `pipeline_jobs` row stays the
-- record of a document's pending stage; these columns let PostgreSQL, not Redis, say what is due,
-- running or buried, so Redis may lose everything and the reconciler rebuilds it from here.
--
-- generation: bumped whenever the row needs a new BullMQ job (next stage, retry, revive, hand-back);
--   the BullMQ job id is <document>:<stage>:<generation>, so adding one twice is harmless and a
--   job of an older generation is recognised as stale when it is leased.
-- state: queued (waiting or due later), running (claimed by an attempt), failed (buried).
-- due_at: a retry's earliest start (NULL: now).
ALTER TABLE pipeline_jobs
  ADD COLUMN generation integer NOT NULL DEFAULT 0,
  ADD COLUMN state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'failed')),
  ADD COLUMN due_at timestamptz,
  ADD COLUMN priority integer NOT NULL DEFAULT 100,
  ADD COLUMN last_error text,
  ADD COLUMN lease_owner text;

-- The fair-share priority counts a tenant's live rows.
CREATE INDEX pipeline_jobs_by_tenant ON pipeline_jobs (tenant_id) WHERE state <> 'failed';
-- The reconciler walks the rows it handed to BullMQ.
CREATE INDEX pipeline_jobs_sent ON pipeline_jobs (enqueued_at) WHERE enqueued_at IS NOT NULL AND state <> 'failed';
