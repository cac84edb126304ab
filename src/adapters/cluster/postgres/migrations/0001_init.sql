-- 0001: the cluster schema. Append-only: a released file is never edited; a change is a new file
-- (0002_…). Applied by migrator.ts in one transaction, under an advisory lock, and recorded in
-- ragd_migrations. Mirrors the embedded schema (src/adapters/embedded/sqlite/schema.ts) with
-- PostgreSQL types; the comments say where it differs and why.

CREATE TABLE tenants (
  id text PRIMARY KEY,
  name text NOT NULL,
  settings jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Revoked keys stay, so a prefix in old logs can still be traced to its tenant.
CREATE TABLE api_keys (
  id text PRIMARY KEY,
  tenant_id text,
  role text NOT NULL,
  name text NOT NULL,
  prefix text NOT NULL,
  hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  last_used_at timestamptz
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at);

-- `no` is a compact surrogate the full-text and vector rows carry instead of (tenant_id, id).
-- chunk_count and token_total are BM25's N and total document length for the KB (avgdl =
-- token_total / chunk_count): they change only in the index commit and in deletes, which lock
-- this row anyway to bump `version`, so they cost no extra contention.
CREATE TABLE kbs (
  no bigserial UNIQUE,
  tenant_id text NOT NULL REFERENCES tenants(id),
  id text NOT NULL,
  name text NOT NULL,
  embedder text NOT NULL,
  embed_dim integer NOT NULL,
  version bigint NOT NULL DEFAULT 0,
  chunk_count bigint NOT NULL DEFAULT 0,
  token_total bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE documents (
  seq bigserial UNIQUE,
  id text PRIMARY KEY,
  tenant_id text NOT NULL,
  kb_id text NOT NULL,
  name text NOT NULL,
  type text NOT NULL,
  content_hash text NOT NULL,
  bytes bigint NOT NULL,
  blob_key text NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL,
  stage text,
  error text,
  chunks integer NOT NULL DEFAULT 0,
  task_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, kb_id) REFERENCES kbs (tenant_id, id) ON DELETE CASCADE
);
-- The unique index is what makes concurrent uploads of the same bytes insert once (ON CONFLICT).
CREATE UNIQUE INDEX documents_content ON documents (tenant_id, kb_id, content_hash);
CREATE INDEX documents_by_kb ON documents (tenant_id, kb_id, seq);
CREATE INDEX documents_pending ON documents (tenant_id, kb_id)
  WHERE status IN ('queued', 'parsing', 'chunking', 'embedding', 'indexing');

CREATE TABLE tasks (
  id text PRIMARY KEY,
  tenant_id text NOT NULL,
  kb_id text NOT NULL,
  kind text NOT NULL,
  status text NOT NULL,
  stage text,
  progress_done integer NOT NULL DEFAULT 0,
  progress_total integer NOT NULL DEFAULT 0,
  error text,
  document_id text,
  result jsonb,
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz
);
CREATE INDEX tasks_by_tenant ON tasks (tenant_id);
CREATE INDEX tasks_expiry ON tasks (expires_at) WHERE expires_at IS NOT NULL;

-- The pipeline's durable state: one row per document that still has a stage to run (the
-- outbox BullMQ is fed from; see docs/cluster-design.md). `fence` is bumped by every attempt that
-- claims the row; a stage result is accepted only with the fence the attempt claimed, so a
-- worker whose BullMQ lock lapsed commits nothing. enqueued_at NULL = not handed to BullMQ yet.
CREATE TABLE pipeline_jobs (
  document_id text PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
  tenant_id text NOT NULL,
  kb_id text NOT NULL,
  task_id text NOT NULL,
  stage text NOT NULL,
  fence bigint NOT NULL DEFAULT 0,
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL,
  trace_context text,
  enqueued_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pipeline_jobs_unsent ON pipeline_jobs (created_at) WHERE enqueued_at IS NULL;

-- `no` is the chunk's compact key for the full-text postings and the vector tables.
-- fts_len is the chunk's length in index terms (title + heading + body), BM25's |D|.
CREATE TABLE chunks (
  no bigserial PRIMARY KEY,
  id text NOT NULL UNIQUE,
  tenant_id text NOT NULL,
  kb_id text NOT NULL,
  kb_no bigint NOT NULL,
  document_id text NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  ordinal integer NOT NULL,
  text text NOT NULL,
  heading_path jsonb NOT NULL DEFAULT '[]',
  page integer,
  token_count integer NOT NULL,
  fts_len integer NOT NULL
);
CREATE INDEX chunks_by_document ON chunks (document_id);

-- The inverted index: one row per (KB, term, chunk) with the term's count in each field.
-- PostgreSQL's own full text (ts_rank) has no IDF; these postings let a query compute real BM25
-- (see sql.ts, RANK_LEXICAL): the primary key finds a term's postings in its KB alone, and the
-- document frequency is the number of those postings, counted in the same pass, so no shared
-- per-term counter is ever written (concurrent commits to one KB never contend on hot terms).
-- dl repeats chunks.fts_len so ranking reads the index and nothing else.
CREATE TABLE chunk_terms (
  kb_no bigint NOT NULL,
  term text NOT NULL,
  chunk_no bigint NOT NULL,
  tf_title smallint NOT NULL,
  tf_heading smallint NOT NULL,
  tf_body integer NOT NULL,
  dl integer NOT NULL,
  PRIMARY KEY (kb_no, term, chunk_no)
);
CREATE INDEX chunk_terms_by_chunk ON chunk_terms (chunk_no);

-- Documents and bytes stored per tenant, kept by triggers so quota checks never count rows; the
-- row is locked (FOR UPDATE) by an upload that checks a quota, so two cannot overshoot together.
CREATE TABLE tenant_usage (
  tenant_id text PRIMARY KEY,
  documents bigint NOT NULL DEFAULT 0,
  bytes bigint NOT NULL DEFAULT 0
);
CREATE FUNCTION ragd_documents_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO tenant_usage (tenant_id, documents, bytes) VALUES (NEW.tenant_id, 1, NEW.bytes)
      ON CONFLICT (tenant_id) DO UPDATE SET documents = tenant_usage.documents + 1, bytes = tenant_usage.bytes + NEW.bytes;
    RETURN NEW;
  END IF;
  UPDATE tenant_usage SET documents = documents - 1, bytes = bytes - OLD.bytes WHERE tenant_id = OLD.tenant_id;
  RETURN OLD;
END $$;
CREATE TRIGGER documents_usage AFTER INSERT OR DELETE ON documents
  FOR EACH ROW EXECUTE FUNCTION ragd_documents_usage();
