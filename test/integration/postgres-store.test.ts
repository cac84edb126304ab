/**
 * What only the PostgreSQL store has: the locked, ledgered migrator and `ragd migrate`, the fence
 * on index commits, and the report when the server has no pgvector. Real PostgreSQL on loopback,
 * a database of its own per test (dropped afterwards); a server that does not answer fails.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { loadMigrations, migrate } from '../../src/adapters/cluster/postgres/migrator.js';
import { createPool } from '../../src/adapters/cluster/postgres/pool.js';
import { PostgresStore } from '../../src/adapters/cluster/postgres/postgres-store.js';
import { queryTerms, segmentForIndex } from '../../src/adapters/cluster/postgres/segment.js';
import { EmbeddingCache } from '../../src/services/query/embedding-cache.js';
import { Retriever } from '../../src/services/query/retrieval.js';
import { tempDatabase, type TempDatabase } from '../support/postgres.js';

const run = promisify(execFile);
const options = { defaultEmbedder: 'hash:8', embedDim: 8, maxAttempts: 3 };
const scope = { tenantId: 'default', kbId: 'default' };

describe('PostgreSQL migrator', () => {
  let db: TempDatabase;
  before(async () => (db = await tempDatabase()));
  after(async () => db.drop());

  it('migrates once when several processes start together, and records it', async () => {
    const pools = Array.from({ length: 4 }, () => createPool({ url: db.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 30_000 }));
    try {
      const results = await Promise.all(pools.map((p) => migrate(p)));
      const newest = loadMigrations().at(-1)!.version;
      assert.equal(results.filter((r) => r.applied.length > 0).length, 1, 'exactly one process applied the migrations');
      assert.ok(results.every((r) => r.current === newest));
      const ledger = await db.pool.query('SELECT version, name FROM ragd_migrations ORDER BY version');
      assert.deepEqual(ledger.rows[0], { version: 1, name: 'init' });
      assert.deepEqual((await migrate(db.pool)).applied, [], 'a current schema is left alone');
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('upgrades a database made by an older ragd: existing KBs and documents take the new columns\' defaults', async () => {
    const old = await tempDatabase(1);
    try {
      // Version 1 only (before OCR), with a KB and a document written as that ragd wrote them.
      assert.deepEqual((await migrate(old.pool, loadMigrations().slice(0, 1))).applied, [1]);
      await old.pool.query(`INSERT INTO tenants (id, name) VALUES ('default', 'default')`);
      await old.pool.query(`INSERT INTO kbs (tenant_id, id, name, embedder, embed_dim) VALUES ('default', 'default', 'default', 'hash:8', 8)`);
      await old.pool.query(
        `INSERT INTO documents (id, tenant_id, kb_id, name, type, content_hash, bytes, blob_key, status, task_id)
         VALUES ('doc_old', 'default', 'default', '旧.txt', 'text', 'old', 3, 'k', 'parsing', 'task_old')`,
      );
      const upgraded = new PostgresStore(old.pool, options);
      await upgraded.init();
      assert.equal((await upgraded.getKb(scope))?.ocr, 'auto');
      assert.deepEqual((await upgraded.getDocument(scope, 'doc_old'))?.ocr, { mode: 'auto' });
      assert.equal(await upgraded.countPending(scope), 1);
      const index = await old.pool.query<{ def: string }>(`SELECT pg_get_indexdef('documents_pending'::regclass) AS def`);
      assert.match(index.rows[0]!.def, /recognizing/, 'the pending index covers documents being OCR\'d');
    } finally {
      await old.drop();
    }
  });

  it('refuses a schema newer than it knows', async () => {
    await db.pool.query(`INSERT INTO ragd_migrations (version, name) VALUES (9999, 'from_the_future')`);
    await assert.rejects(migrate(db.pool), /newer than this ragd knows/);
    await db.pool.query('DELETE FROM ragd_migrations WHERE version = 9999');
  });

  it('`ragd migrate` migrates the database named by RAGD_DATABASE_URL, and explains itself without one', async () => {
    const fresh = await tempDatabase(1);
    try {
      const env = { ...process.env, RAGD_DATABASE_URL: fresh.url };
      const newest = loadMigrations().at(-1)!.version;
      const first = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'migrate'], { env });
      const all = loadMigrations().map((m) => m.version).join(', ');
      assert.match(first.stdout, new RegExp(`schema migrated to version ${newest} \\(applied ${all}\\)`));
      assert.match(first.stdout, /pgvector: (available|unavailable: .+)/);
      const again = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'migrate'], { env });
      assert.match(again.stdout, new RegExp(`schema is current \\(version ${newest}\\)`));
      const { RAGD_DATABASE_URL: _, ...without } = process.env;
      await assert.rejects(run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'migrate'], { env: without }), (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 2);
        assert.match(err.stderr, /set RAGD_DATABASE_URL/);
        return true;
      });
    } finally {
      await fresh.drop();
    }
  });
});

describe('PostgreSQL store', () => {
  let db: TempDatabase;
  let store: PostgresStore;
  let dir: string;
  before(async () => {
    db = await tempDatabase();
    store = new PostgresStore(db.pool, options);
    await store.init();
    dir = await mkdtemp(join(tmpdir(), 'ragd-pg-'));
  });
  after(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('commits an index only with the fence the current attempt holds', async () => {
    const { document } = await store.createDocument({
      scope, id: 'doc_f', taskId: 'task_f', name: 'f.txt', type: 'text', contentHash: 'f', bytes: 1, blobKey: 'f', metadata: {},
    });
    const chunksPath = join(dir, 'f.json');
    await writeFile(chunksPath, JSON.stringify([{ ordinal: 0, text: 'fenced commit', tokenCount: 2, headingPath: [], page: null }]));
    await writeFile(`${chunksPath}.f32`, Buffer.alloc(8 * 4));
    const commit = (fence: number) =>
      store.commitIndex({ scope, documentId: document.id, taskId: document.task_id, chunksPath, vectorsPath: `${chunksPath}.f32`, embedDim: 8, fence });
    // Two attempts claim the job in turn (the BullMQ worker's claim, not written yet, bumps the fence).
    const claim = async () => (await db.pool.query<{ fence: number }>('UPDATE pipeline_jobs SET fence = fence + 1 WHERE document_id = $1 RETURNING fence', [document.id])).rows[0]!.fence;
    const stale = await claim();
    const current = await claim();
    assert.equal(await commit(stale), null, 'the attempt that lost the job commits nothing');
    assert.deepEqual(await store.searchLexical(scope, 'fenced', 5), []);
    assert.equal((await commit(current))?.chunks, 1);
    assert.equal((await store.searchLexical(scope, 'fenced', 5)).length, 1);
    assert.equal(await commit(current), null, 'the pipeline row is gone once indexed: a redelivery commits nothing');
  });

  it('reports once why vector search is off when the server has no pgvector', async () => {
    const has = (await db.pool.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'vector'`)).rowCount! > 0;
    assert.equal(store.vectorSearch.available, has);
    if (!has) assert.match(store.vectorSearch.reason!, /no pgvector/);
  });

  it('without pgvector: vector mode is a clear 501, hybrid answers from full text with a notice', async (t) => {
    if (store.vectorSearch.available) return t.diagnostic('this server has pgvector: the PGlite conformance run covers vectors');
    const embeddings = new EmbeddingCache({ maxEntries: 8, maxBytes: 1024, ttlMs: 60_000 });
    // Never reached: without vector search no question is embedded at all.
    const embedders = {
      forTenant: () => Promise.reject(new Error('must not embed')),
      forKb: () => Promise.reject(new Error('must not embed')),
    };
    const retriever = new Retriever(store, embeddings, embedders);
    const kb = (await store.getKb(scope))!;
    const input = { scope, kb, query: 'fenced commit', depth: 5 };
    await assert.rejects(retriever.retrieve({ ...input, mode: 'vector' }), { status: 501, code: 'vector_search_unavailable' });
    const hybrid = await retriever.retrieve({ ...input, mode: 'hybrid' });
    assert.equal(hybrid.hits[0]?.text, 'fenced commit');
    assert.match(hybrid.notice ?? '', /vector search skipped: .*pgvector/);
    const lexical = await retriever.retrieve({ ...input, mode: 'lexical' });
    assert.deepEqual(lexical.hits.map((h) => h.chunkId), hybrid.hits.map((h) => h.chunkId));
    assert.equal(lexical.notice, undefined);
  });

  it('segments as the embedded FTS5 index does: case, accents, stems; stopwords dropped from questions', () => {
    assert.deepEqual(segmentForIndex('Running Cafés, ÉCOLE!'), ['run', 'cafe', 'ecol']);
    assert.deepEqual(queryTerms('what is the role of running in the heart?'), ['role', 'run', 'heart']);
    // The shared segmenter's terms (src/text/segment.ts): ICU words, then every pair of adjacent characters.
    assert.deepEqual(segmentForIndex('数据库 检索'), ['数据', '库', '数据', '据库', '检索', '检索']);
  });
});
