/**
 * Crash recovery, end to end: a real `ragd serve` child process is SIGKILLed while documents are
 * mid-pipeline, restarted on the same data directory, and must finish every document exactly
 * once: the same chunks as an uninterrupted run, no duplicate chunk, full-text or vector row,
 * and no job left behind.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openDatabase } from '../../src/adapters/embedded/sqlite/open.js';
import {
  listDocuments,
  requestJson,
  spawnServer,
  syntheticCorpus,
  tempDir,
  uploadFile,
  waitFor,
  waitReady,
  type DocView,
  type SpawnedServer,
  type SyntheticDoc,
} from '../support/server.js';

const DOCS = 300;
const SETTLE_TIMEOUT_MS = 180_000;
const ENV = { RAGD_LEASE_MS: '2000', RAGD_LOG_LEVEL: 'warn' };

const corpus: SyntheticDoc[] = [...syntheticCorpus({ seed: 42, count: DOCS, minBytes: 1500, maxBytes: 6000 })];

const servers: SpawnedServer[] = [];
const dirs: string[] = [];

after(async () => {
  for (const s of servers) await s.kill('SIGKILL');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function start(dataDir: string): Promise<SpawnedServer> {
  const s = await spawnServer({ ...ENV, RAGD_DATA_DIR: dataDir });
  servers.push(s);
  return s;
}

async function uploadAll(url: string): Promise<string[]> {
  const ids: string[] = new Array(corpus.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < corpus.length) {
        const i = next++;
        const doc = corpus[i]!;
        const up = await uploadFile(url, 'default', doc.name, Buffer.from(doc.text, 'utf8'));
        assert.equal(up.duplicate, false, `${doc.name} must be new content`);
        ids[i] = up.id;
      }
    }),
  );
  return ids;
}

interface DbState {
  documents: number;
  notReady: number;
  runningJobs: number;
  jobs: number;
  chunks: number;
  chunkSum: number;
  duplicateOrdinals: number;
  fts: number;
  vectors: number;
  /** chunks per content hash: comparable across data directories. */
  chunksByHash: Map<string, number>;
}

/** Reads the SQLite file directly (read-only, with sqlite-vec loaded for the vector table). */
function inspect(dataDir: string): DbState {
  const db = openDatabase(join(dataDir, 'ragd.db'), { readonly: true });
  try {
    const one = (sql: string) => db.prepare(sql).pluck().get() as number;
    const dims = db.prepare('SELECT DISTINCT embed_dim FROM kbs').pluck().all() as number[];
    let vectors = 0;
    for (const dim of dims) vectors += one(`SELECT count(*) FROM vec_d${Number(dim)}`);
    let fts = 0;
    for (const no of db.prepare('SELECT fts_no FROM kbs').pluck().all() as number[]) fts += one(`SELECT count(*) FROM kb_fts_${Number(no)}`);
    const rows = db.prepare('SELECT content_hash, chunks FROM documents').all() as { content_hash: string; chunks: number }[];
    return {
      documents: one('SELECT count(*) FROM documents'),
      notReady: one(`SELECT count(*) FROM documents WHERE status <> 'ready'`),
      runningJobs: one(`SELECT count(*) FROM jobs WHERE status = 'running'`),
      jobs: one('SELECT count(*) FROM jobs'),
      chunks: one('SELECT count(*) FROM chunks'),
      chunkSum: one('SELECT coalesce(sum(chunks), 0) FROM documents'),
      duplicateOrdinals: one('SELECT count(*) FROM (SELECT document_id, ordinal FROM chunks GROUP BY 1, 2 HAVING count(*) > 1)'),
      fts,
      vectors,
      chunksByHash: new Map(rows.map((r) => [r.content_hash, r.chunks])),
    };
  } finally {
    db.close();
  }
}

/** Everything that must hold in a data directory once every document is ready. */
function assertConsistent(state: DbState, listing: DocView[], label: string): void {
  const listed = listing.reduce((n, d) => n + d.chunks, 0);
  assert.equal(state.documents, DOCS, `${label}: documents`);
  assert.equal(state.notReady, 0, `${label}: documents not ready`);
  assert.ok(listed > 0, `${label}: chunks were made`);
  assert.equal(state.chunks, listed, `${label}: chunk rows = sum of chunks in the listing`);
  assert.equal(state.chunkSum, listed, `${label}: documents.chunks agrees with the listing`);
  assert.equal(state.duplicateOrdinals, 0, `${label}: no (document, ordinal) twice`);
  assert.equal(state.fts, state.chunks, `${label}: one full-text row per chunk`);
  assert.equal(state.vectors, state.chunks, `${label}: one vector per chunk`);
  assert.equal(state.jobs, 0, `${label}: no job left behind`);
}

describe('crash recovery', { timeout: 600_000 }, () => {
  test('a SIGKILLed server resumes on restart: every document indexed exactly once', async (t) => {
    // The reference: the same 300 documents, never interrupted.
    const refDir = await tempDir('ragd-crash-ref-');
    dirs.push(refDir);
    const ref = await start(refDir);
    const refIds = await uploadAll(ref.url);
    await waitReady(ref.url, 'default', refIds, { timeoutMs: SETTLE_TIMEOUT_MS });
    const refListing = await listDocuments(ref.url, 'default');
    await ref.stop();
    const refState = inspect(refDir);
    assertConsistent(refState, refListing, 'uninterrupted run');

    // The crash: kill -9 as soon as the pipeline is under way (some ready, others not).
    const dir = await tempDir('ragd-crash-');
    dirs.push(dir);
    const first = await start(dir);
    const ids = await uploadAll(first.url);
    await waitFor(
      async () => {
        const page = await requestJson<{ documents: DocView[] }>(`${first.url}/v1/kbs/default/documents?status=ready&limit=1`);
        return page.documents.length > 0;
      },
      { timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 20, what: 'a first document to be ready' },
    );
    await first.kill('SIGKILL');

    // What the dead process left: the second one must really have work to take over.
    const atKill = inspect(dir);
    assert.equal(atKill.documents, DOCS, 'every upload was recorded before the kill');
    assert.ok(atKill.notReady > 0, `documents were still in the pipeline at the kill (not ready: ${atKill.notReady})`);
    assert.ok(atKill.jobs > 0, 'jobs were left for the next process');
    t.diagnostic(`at kill: ${atKill.notReady} not ready, ${atKill.jobs} jobs (${atKill.runningJobs} leased by the dead process)`);

    const second = await start(dir);
    const docs = await waitReady(second.url, 'default', ids, { timeoutMs: SETTLE_TIMEOUT_MS });
    assert.equal(docs.length, DOCS);
    const listing = await listDocuments(second.url, 'default');
    await second.stop();
    const state = inspect(dir);
    assertConsistent(state, listing, 'crashed and resumed run');

    // Exactly the same index as without the crash, document by document.
    assert.equal(state.chunks, refState.chunks, 'same total chunk count as the uninterrupted run');
    assert.deepEqual(state.chunksByHash, refState.chunksByHash, 'same chunks per document as the uninterrupted run');
  });
});
