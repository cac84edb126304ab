/**
 * Every statement of the PostgreSQL store, named by what it does. Each header says its
 * parameters ($n) and its result. The schema itself is in migrations/; the per-dimension vector
 * tables are made by vectors.ts.
 */

/** Every column of a document joined with its task's progress. Append `WHERE …`. */
export const DOCUMENT_SELECT = `
  SELECT d.*, t.progress_done, t.progress_total
  FROM documents d LEFT JOIN tasks t ON t.id = d.task_id`;

/**
 * A page of documents after a cursor: at most $4 of them (one more is counted to know whether
 * another page follows), ending before their metadata passes $5 bytes (at least one
 * document). The running total is a window over the rows in order, so the scan stops at $4 + 1.
 * `where` conditions on d; $1 tenant, $2 kb, $3 cursor seq, then its own. → document rows with
 * `fetched`: how many rows the cut saw (more than returned: another page follows)
 */
export const listDocumentsPage = (where: string) => `
  WITH cut AS (
    SELECT d.seq, row_number() OVER w AS rn, sum(d.metadata_bytes) OVER w AS run
    FROM documents d WHERE ${where} WINDOW w AS (ORDER BY d.seq) ORDER BY d.seq LIMIT $4 + 1
  )
  SELECT d.*, t.progress_done, t.progress_total, (SELECT count(*) FROM cut)::int AS fetched
  FROM cut JOIN documents d ON d.seq = cut.seq LEFT JOIN tasks t ON t.id = d.task_id
  WHERE cut.rn <= $4 AND (cut.rn = 1 OR cut.run <= $5)
  ORDER BY cut.seq`;

/** $1 tenant, $2 name. Inserts the tenant unless it exists. → nothing */
export const ENSURE_TENANT = `INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`;

/** $1 tenant, $2 kb id, $3 name, $4 embedder, $5 dim, $6 OCR mode. → the new KB row, or none when it exists */
export const INSERT_KB = `
  INSERT INTO kbs (tenant_id, id, name, embedder, embed_dim, ocr) VALUES ($1, $2, $3, $4, $5, $6)
  ON CONFLICT (tenant_id, id) DO NOTHING RETURNING *`;

/** $1 tenant, $2 kb id. → the KB row */
export const SELECT_KB = `SELECT * FROM kbs WHERE tenant_id = $1 AND id = $2`;

/** $1 tenant. → the tenant's KB rows by id */
export const LIST_KBS = `SELECT * FROM kbs WHERE tenant_id = $1 ORDER BY id`;

/** The statuses of a document that is not searchable yet (the partial index documents_pending). */
const PENDING = `('queued', 'parsing', 'recognizing', 'chunking', 'embedding', 'indexing')`;

/** $1 tenant, $2 kb id. → the KB row plus `pending`, from one snapshot */
export const KB_STATE = `
  SELECT k.*, (SELECT count(*) FROM documents d
    WHERE d.tenant_id = k.tenant_id AND d.kb_id = k.id AND d.status IN ${PENDING})::int AS pending
  FROM kbs k WHERE k.tenant_id = $1 AND k.id = $2`;

/** $1 tenant, $2 kb id. → { n } */
export const COUNT_PENDING = `SELECT count(*)::int AS n FROM documents WHERE tenant_id = $1 AND kb_id = $2 AND status IN ${PENDING}`;

/** $1 tenant, $2 kb id. Locks the KB's documents, then the KB (the order commits take). → { id, blob_key } */
export const LOCK_KB_DOCUMENTS = `
  SELECT id, blob_key FROM documents WHERE tenant_id = $1 AND kb_id = $2 ORDER BY id FOR UPDATE`;

/** $1 kb no. Removes the KB's full-text postings. */
export const DELETE_KB_POSTINGS = `DELETE FROM chunk_terms WHERE kb_no = $1`;

/** $1 tenant, $2 kb id. Removes the KB; documents, chunks and pipeline rows go by cascade. → { no } */
export const DELETE_KB = `DELETE FROM kbs WHERE tenant_id = $1 AND id = $2 RETURNING no`;

/** $1 tenant, $2 kb id. Tasks of a deleted KB go with it. */
export const DELETE_KB_TASKS = `DELETE FROM tasks WHERE tenant_id = $1 AND kb_id = $2`;

/** $1 tenant. → { documents, bytes } (no row: nothing stored yet) */
export const TENANT_USAGE = `SELECT documents, bytes FROM tenant_usage WHERE tenant_id = $1`;

/** $1 tenant. Makes sure the usage row exists and locks it, so concurrent quota checks queue. → { documents, bytes } */
export const LOCK_TENANT_USAGE = `
  WITH ins AS (INSERT INTO tenant_usage (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) DO NOTHING)
  SELECT documents, bytes FROM tenant_usage WHERE tenant_id = $1 FOR UPDATE`;

/**
 * $1 id, $2 tenant, $3 kb, $4 name, $5 type, $6 content hash, $7 bytes, $8 blob key, $9 metadata
 * (json), $10 task id, $11 OCR (json DocumentOcr), $12 the metadata JSON's UTF-8 bytes. Inserts
 * unless the KB already holds the same bytes. → { id } or none
 */
export const INSERT_DOCUMENT = `
  INSERT INTO documents (id, tenant_id, kb_id, name, type, content_hash, bytes, blob_key, metadata, status, task_id, ocr, metadata_bytes)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', $10, $11, $12)
  ON CONFLICT (tenant_id, kb_id, content_hash) DO NOTHING RETURNING id`;

/** $1 id, $2 tenant, $3 kb, $4 document id. The ingest task of a new document (5 stages: parse, ocr, chunk, embed, index). */
export const INSERT_INGEST_TASK = `
  INSERT INTO tasks (id, tenant_id, kb_id, kind, status, progress_done, progress_total, document_id)
  VALUES ($1, $2, $3, 'ingest', 'queued', 0, 5, $4)`;

/**
 * $1 document, $2 tenant, $3 kb, $4 task, $5 stage, $6 max attempts, $7 trace context.
 * The document's first pipeline row: the outbox entry the relay hands to BullMQ.
 */
export const INSERT_PIPELINE_JOB = `
  INSERT INTO pipeline_jobs (document_id, tenant_id, kb_id, task_id, stage, max_attempts, trace_context)
  VALUES ($1, $2, $3, $4, $5, $6, $7)`;

/** $1 id, $2 tenant, $3 kb, $4 kind, $5 expires at (or null). → the task row */
export const INSERT_TASK = `
  INSERT INTO tasks (id, tenant_id, kb_id, kind, status, progress_done, progress_total, expires_at)
  VALUES ($1, $2, $3, $4, 'queued', 0, 1, $5) RETURNING *`;

/** $1 id, $2 tenant. → the task row */
export const SELECT_TASK = `SELECT * FROM tasks WHERE id = $1 AND tenant_id = $2`;

/** $1 now. Removes finished tasks past their expiry. → row count */
export const PURGE_EXPIRED_TASKS = `
  DELETE FROM tasks WHERE expires_at IS NOT NULL AND expires_at <= $1 AND status IN ('succeeded', 'failed')`;

/** $1 status, $2 stage, $3 error, $4 document, $5 tenant. → { id } when the document exists */
export const TRANSITION_DOCUMENT = `
  UPDATE documents SET status = $1, stage = $2, error = $3, updated_at = now() WHERE id = $4 AND tenant_id = $5 RETURNING id`;

/** $1 status, $2 stage, $3 done, $4 total, $5 error, $6 task. → the task row */
export const TRANSITION_TASK = `
  UPDATE tasks SET status = $1, stage = $2, progress_done = $3, progress_total = $4, error = $5,
    version = version + 1, updated_at = now() WHERE id = $6 RETURNING *`;

/** $1 document, $2 tenant, $3 kb. Locks the document row against a concurrent delete or commit. → document row */
export const LOCK_DOCUMENT = `SELECT * FROM documents WHERE id = $1 AND tenant_id = $2 AND kb_id = $3 FOR UPDATE`;

/** $1 document. Removes the document's full-text postings (before its chunks). */
export const DELETE_DOCUMENT_POSTINGS = `
  DELETE FROM chunk_terms WHERE chunk_no IN (SELECT no FROM chunks WHERE document_id = $1)`;

/** $1 document. Removes its chunks. → { n, len }: how many, and their total BM25 length */
export const DELETE_DOCUMENT_CHUNKS = `
  WITH gone AS (DELETE FROM chunks WHERE document_id = $1 RETURNING fts_len)
  SELECT count(*)::int AS n, coalesce(sum(fts_len), 0)::bigint AS len FROM gone`;

/** $1 tenant, $2 kb, $3 chunks delta, $4 length delta. Bumps the KB's content version. */
export const BUMP_KB = `
  UPDATE kbs SET version = version + 1, chunk_count = chunk_count + $3, token_total = token_total + $4
  WHERE tenant_id = $1 AND id = $2`;

/** $1 document. The task stays readable, so anyone following it learns what happened. */
export const CANCEL_DOCUMENT_TASK = `
  UPDATE tasks SET status = CASE WHEN status = 'succeeded' THEN status ELSE 'failed' END,
    error = CASE WHEN status = 'succeeded' THEN error ELSE 'cancelled: the document was deleted' END,
    version = version + 1, updated_at = now() WHERE id = $1`;

/** $1 document. */
export const DELETE_DOCUMENT = `DELETE FROM documents WHERE id = $1`;

/** $1 OCR (json DocumentOcr), $2 document, $3 tenant, $4 kb. The `ocr` stage's record of what it read. */
export const RECORD_OCR = `
  UPDATE documents SET ocr = $1, updated_at = now() WHERE id = $2 AND tenant_id = $3 AND kb_id = $4`;

/**
 * $1 ids, $2 tenant, $3 kb, $4 kb no, $5 document, $6 ordinals, $7 texts, $8 heading paths (json),
 * $9 pages, $10 token counts, $11 BM25 lengths, $12 OCR confidences (null: not OCR'd).
 * → { no, ordinal } per chunk
 */
export const INSERT_CHUNKS = `
  INSERT INTO chunks (id, tenant_id, kb_id, kb_no, document_id, ordinal, text, heading_path, page, token_count, fts_len, ocr_confidence)
  SELECT u.id, $2, $3, $4, $5, u.ordinal, u.text, u.heading, u.page, u.tokens, u.len, u.ocr
  FROM unnest($1::text[], $6::int[], $7::text[], $8::jsonb[], $9::int[], $10::int[], $11::int[], $12::float8[])
    AS u(id, ordinal, text, heading, page, tokens, len, ocr)
  RETURNING no, ordinal`;

/** $1 kb no, $2 terms, $3 chunk nos, $4 title counts, $5 heading counts, $6 body counts, $7 lengths. */
export const INSERT_POSTINGS = `
  INSERT INTO chunk_terms (kb_no, term, chunk_no, tf_title, tf_heading, tf_body, dl)
  SELECT $1, u.* FROM unnest($2::text[], $3::bigint[], $4::smallint[], $5::smallint[], $6::int[], $7::int[]) AS u`;

/** $1 chunk count, $2 document. Marks the document searchable. */
export const DOCUMENT_READY = `
  UPDATE documents SET status = 'ready', stage = NULL, error = NULL, chunks = $1, updated_at = now() WHERE id = $2`;

/** $1 task. → the task row */
export const TASK_SUCCEEDED = `
  UPDATE tasks SET status = 'succeeded', stage = NULL, progress_done = progress_total, error = NULL,
    version = version + 1, updated_at = now() WHERE id = $1 RETURNING *`;

/** $1 document. The pipeline row goes once the document is indexed. */
export const DELETE_PIPELINE_JOB = `DELETE FROM pipeline_jobs WHERE document_id = $1`;

/** A chunk as the port's StoredChunk (column aliases are its keys), with its document's name. Append `WHERE …`. */
export const STORED_CHUNK_SELECT = `
  SELECT c.id AS "chunkId", c.kb_id AS "kbId", c.document_id AS "documentId", d.name AS "documentName", c.ordinal, c.text, c.page
  FROM chunks c JOIN documents d ON d.id = c.document_id`;

/** $1 tenant, $2 kb, $3 document, $4 first ordinal, $5 limit. → StoredChunk rows in order */
export const DOCUMENT_CHUNKS = `${STORED_CHUNK_SELECT}
  WHERE c.tenant_id = $1 AND c.kb_id = $2 AND c.document_id = $3 AND c.ordinal >= $4 ORDER BY c.ordinal LIMIT $5`;

/** $1 tenant, $2 kb, $3 document, $4 after this ordinal, $5 limit. → ChunkRecord rows (heading path as JSON text) in order */
export const LIST_CHUNKS = `
  SELECT id, ordinal, text, heading_path, page, token_count FROM chunks
  WHERE tenant_id = $1 AND kb_id = $2 AND document_id = $3 AND ordinal > $4 ORDER BY ordinal LIMIT $5`;

/** $1 tenant, $2 kb. → { status, n, chunks }: the KB's documents by status and their chunks */
export const KB_COUNTS = `
  SELECT status, count(*)::int AS n, coalesce(sum(chunks), 0)::int AS chunks FROM documents
  WHERE tenant_id = $1 AND kb_id = $2 GROUP BY status`;

/** $1 chunk id, $2 tenant. → the StoredChunk row */
export const TENANT_CHUNK = `${STORED_CHUNK_SELECT} WHERE c.id = $1 AND c.tenant_id = $2`;

/** $1 tenant or null (all). → { status, n } */
export const DOCUMENT_COUNTS = `
  SELECT status, count(*)::int AS n FROM documents WHERE ($1::text IS NULL OR tenant_id = $1) GROUP BY status`;

/** Okapi BM25's constants, as FTS5 uses them. */
const K1 = 1.2;
const B = 0.75;

/**
 * Real BM25 over a KB's postings, computed exactly as FTS5's bm25() does, so both modes rank alike:
 *   score = Σ_terms idf · tf·(k1+1) / (tf + k1·(1 − b + b·|D|/avgdl))
 *   idf = ln((N − df + 0.5) / (df + 0.5)), at least 1e-6; tf weighted per field (title, heading, body).
 * N and avgdl come from the KB row; df is the number of the term's postings in the KB, counted in
 * the same scan that reads them. `{filter}` is replaced by conditions on c (chunks) and d (documents).
 * $1 tenant, $2 kb id, $3 terms, $4 k, $5..$7 weights of title, heading, body; filter params follow.
 * → { id, document_id, name, ordinal, text, heading_path, page, ocr_confidence, score } best first
 */
export const RANK_LEXICAL = `
  WITH kb AS (
    SELECT no, greatest(chunk_count, 1)::float8 AS n,
           greatest(token_total, 1)::float8 / greatest(chunk_count, 1) AS avgdl
    FROM kbs WHERE tenant_id = $1 AND id = $2
  ), post AS (
    SELECT p.chunk_no, p.dl,
           ($5 * p.tf_title + $6 * p.tf_heading + $7 * p.tf_body)::float8 AS tf,
           count(*) OVER (PARTITION BY p.term)::float8 AS df
    FROM chunk_terms p JOIN kb ON p.kb_no = kb.no
    WHERE p.term = ANY($3::text[])
  ), scored AS (
    SELECT post.chunk_no,
           sum(greatest(ln((kb.n - post.df + 0.5) / (post.df + 0.5)), 1e-6)
               * post.tf * ${K1 + 1} / (post.tf + ${K1} * (${1 - B} + ${B} * post.dl / kb.avgdl))) AS score
    FROM post CROSS JOIN kb GROUP BY post.chunk_no
  ), top AS (
    SELECT s.chunk_no, s.score FROM scored s {join} WHERE true {filter}
    ORDER BY s.score DESC, s.chunk_no LIMIT $4
  )
  SELECT c.id, c.document_id, d.name, c.ordinal, c.text, c.heading_path, c.page, c.ocr_confidence, top.score
  FROM top JOIN chunks c ON c.no = top.chunk_no JOIN documents d ON d.id = c.document_id
  ORDER BY top.score DESC, top.chunk_no`;
