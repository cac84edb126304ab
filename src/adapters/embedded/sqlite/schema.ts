import { splitSharedFts } from './kb-fts.js';
import type { Db } from './open.js';

/**
 * Schema migrations, applied in order and recorded in `user_version`. Append; never edit a
 * released step. A step is SQL, or a function for one that has to move data row by row.
 */
const MIGRATIONS: (string | ((db: Db) => void))[] = [
  `
  CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE kbs (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    embedder TEXT NOT NULL,
    embed_dim INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
  );
  CREATE TABLE documents (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    kb_id TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    blob_key TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    stage TEXT,
    error TEXT,
    chunks INTEGER NOT NULL DEFAULT 0,
    task_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE UNIQUE INDEX documents_content ON documents (tenant_id, kb_id, content_hash);
  CREATE INDEX documents_by_kb ON documents (tenant_id, kb_id, seq);
  CREATE INDEX documents_by_status ON documents (tenant_id, kb_id, status);

  CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    kb_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT,
    progress_done INTEGER NOT NULL DEFAULT 0,
    progress_total INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    document_id TEXT,
    result TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT
  );
  CREATE INDEX tasks_expiry ON tasks (expires_at) WHERE expires_at IS NOT NULL;

  -- Live pipeline jobs only: a finished job is deleted in the transaction that enqueues the next.
  CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    kb_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    status TEXT NOT NULL,          -- queued | running | dead
    priority INTEGER NOT NULL DEFAULT 100,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_token TEXT,
    lease_expires_at INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX jobs_runnable ON jobs (stage, status, priority, run_at);
  CREATE INDEX jobs_by_document ON jobs (document_id);
  CREATE INDEX jobs_by_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;

  CREATE TABLE chunks (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    kb_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    heading_path TEXT NOT NULL DEFAULT '[]',
    page INTEGER,
    token_count INTEGER NOT NULL
  );
  CREATE INDEX chunks_by_document ON chunks (document_id);
  CREATE INDEX chunks_by_kb ON chunks (tenant_id, kb_id);

  -- BM25 over document title, heading path and chunk body. Contentless: the text lives in
  -- chunks; contentless_delete lets a document's rows be removed by rowid.
  CREATE VIRTUAL TABLE chunks_fts USING fts5 (
    title, heading, body,
    content = '', contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 2'
  );
  `,
  // 2: the W3C trace context of the request that started the document's ingestion (JSON of the
  // traceparent/tracestate headers), so every stage job continues that trace. NULL untraced.
  `ALTER TABLE jobs ADD COLUMN trace_context TEXT;`,
  // 3: fair scheduling across tenants and O(1) per-tenant storage usage.
  `
  -- The scheduler's per-tenant state (see fair-lease.ts): the weight read from TenantLimits, the
  -- virtual time the tenant has been served up to, and its live job rows (kept by triggers), so a
  -- lease looks only at tenants that have jobs.
  CREATE TABLE tenant_sched (
    tenant_id TEXT PRIMARY KEY,
    weight REAL NOT NULL DEFAULT 1 CHECK (weight > 0),
    vtime REAL NOT NULL DEFAULT 0,
    jobs INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;
  CREATE INDEX tenant_sched_active ON tenant_sched (tenant_id) WHERE jobs > 0;
  INSERT INTO tenant_sched (tenant_id, jobs) SELECT tenant_id, count(*) FROM jobs GROUP BY tenant_id;
  CREATE TRIGGER jobs_sched_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO tenant_sched (tenant_id, jobs) VALUES (NEW.tenant_id, 1)
      ON CONFLICT (tenant_id) DO UPDATE SET jobs = jobs + 1;
  END;
  CREATE TRIGGER jobs_sched_delete AFTER DELETE ON jobs BEGIN
    UPDATE tenant_sched SET jobs = jobs - 1 WHERE tenant_id = OLD.tenant_id;
  END;
  -- The system virtual time: the start tag of the last job leased. Never decreases.
  CREATE TABLE sched_clock (id INTEGER PRIMARY KEY CHECK (id = 1), vtime REAL NOT NULL);
  INSERT INTO sched_clock (id, vtime) VALUES (1, 0);
  -- One tenant's next job of a stage is the first entry of this index: a lease probes it once per tenant.
  CREATE INDEX jobs_fair ON jobs (tenant_id, stage, status, priority, run_at, id);

  -- Documents and bytes stored per tenant, kept by triggers so quota checks never count rows.
  CREATE TABLE tenant_usage (
    tenant_id TEXT PRIMARY KEY,
    documents INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;
  INSERT INTO tenant_usage (tenant_id, documents, bytes)
    SELECT tenant_id, count(*), coalesce(sum(bytes), 0) FROM documents GROUP BY tenant_id;
  CREATE TRIGGER documents_usage_insert AFTER INSERT ON documents BEGIN
    INSERT INTO tenant_usage (tenant_id, documents, bytes) VALUES (NEW.tenant_id, 1, NEW.bytes)
      ON CONFLICT (tenant_id) DO UPDATE SET documents = documents + 1, bytes = bytes + NEW.bytes;
  END;
  CREATE TRIGGER documents_usage_delete AFTER DELETE ON documents BEGIN
    UPDATE tenant_usage SET documents = documents - 1, bytes = bytes - OLD.bytes WHERE tenant_id = OLD.tenant_id;
  END;
  `,
  // 4: authentication: API keys (stored as SHA-256 hashes only) and per-tenant settings (JSON,
  // provider keys sealed with the server key). Revoked keys stay, so a prefix in old logs can
  // still be traced to its tenant.
  `
  ALTER TABLE tenants ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    last_used_at TEXT
  );
  CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at);
  `,
  // 5: a full-text table per KB instead of one shared by all (see kb-fts.ts).
  splitSharedFts,
  // 6: how a KB's full-text rows were prepared (kb-fts.ts FTS_FORMAT). Existing KBs start at 0,
  // unsegmented, and are rebuilt from `chunks` in the background after start-up.
  `ALTER TABLE kbs ADD COLUMN fts_format INTEGER NOT NULL DEFAULT 0;`,
  // 7: OCR. A KB's default mode; a document's mode and what was OCR'd (JSON DocumentOcr); an OCR'd
  // chunk's engine confidence (NULL for text that came from a text layer).
  `
  ALTER TABLE kbs ADD COLUMN ocr TEXT NOT NULL DEFAULT 'auto';
  ALTER TABLE documents ADD COLUMN ocr TEXT NOT NULL DEFAULT '{"mode":"auto"}';
  ALTER TABLE chunks ADD COLUMN ocr_confidence REAL;
  `,
  // 8: a tenant's stored bytes include its documents' metadata (up to 64 KB each, listed with
  // every page): without it, tiny files with large metadata grew the database past any quota.
  `
  DROP TRIGGER documents_usage_insert;
  DROP TRIGGER documents_usage_delete;
  CREATE TRIGGER documents_usage_insert AFTER INSERT ON documents BEGIN
    INSERT INTO tenant_usage (tenant_id, documents, bytes) VALUES (NEW.tenant_id, 1, NEW.bytes + length(CAST(NEW.metadata AS BLOB)))
      ON CONFLICT (tenant_id) DO UPDATE SET documents = documents + 1, bytes = bytes + NEW.bytes + length(CAST(NEW.metadata AS BLOB));
  END;
  CREATE TRIGGER documents_usage_delete AFTER DELETE ON documents BEGIN
    UPDATE tenant_usage SET documents = documents - 1, bytes = bytes - OLD.bytes - length(CAST(OLD.metadata AS BLOB)) WHERE tenant_id = OLD.tenant_id;
  END;
  UPDATE tenant_usage SET bytes = (
    SELECT coalesce(sum(bytes + length(CAST(metadata AS BLOB))), 0) FROM documents WHERE documents.tenant_id = tenant_usage.tenant_id
  );
  `,
];

/** Brings the schema up to `target` (default: the latest); tests stop earlier to build old files. */
export function migrate(db: Db, target = MIGRATIONS.length): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let v = current; v < Math.min(target, MIGRATIONS.length); v++) {
    const step = MIGRATIONS[v]!;
    db.transaction(() => {
      if (typeof step === 'string') db.exec(step);
      else step(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

/** Vectors live in one sqlite-vec table per dimension, partitioned by KB for fast filtered KNN. */
export function vectorTable(dim: number): string {
  if (!Number.isInteger(dim) || dim < 1 || dim > 8192) throw new Error(`invalid vector dimension ${dim}`);
  return `vec_d${dim}`;
}

export function ensureVectorTable(db: Db, dim: number): string {
  const table = vectorTable(dim);
  db.exec(
    `CREATE VIRTUAL TABLE IF NOT EXISTS ${table} USING vec0 (kb_key TEXT PARTITION KEY, embedding float[${dim}] distance_metric=cosine)`,
  );
  return table;
}

export const kbKey = (tenantId: string, kbId: string) => `${tenantId}/${kbId}`;
