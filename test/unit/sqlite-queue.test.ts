import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteJobQueue } from '../../src/adapters/embedded/sqlite/sqlite-job-queue.js';
import type { SqliteStore } from '../../src/adapters/embedded/sqlite/sqlite-store.js';
import { tempSqliteStore, type TempStore } from '../support/sqlite.js';
import type { ChunkDraft } from '../../src/domain/types.js';

const scope = { tenantId: 'default', kbId: 'default' };
const DIM = 8;

describe('embedded store and durable job queue (real SQLite file)', () => {
  let temp: TempStore;
  let dir: string;
  let store: SqliteStore;
  let queue: SqliteJobQueue;

  before(async () => {
    temp = await tempSqliteStore('ragd-queue-', DIM);
    ({ dir, store } = temp);
    queue = new SqliteJobQueue(store.writer, 3);
  });
  after(async () => temp.remove());

  let n = 0;
  async function newDoc(hash = `h${n++}`) {
    return store.createDocument({
      scope, id: `doc_${hash}_xxxxxxxx`, taskId: `task_${hash}_xxxxxxx`, name: `${hash}.txt`, type: 'text',
      contentHash: hash, bytes: 3, blobKey: `sources/default/default/${hash}`, metadata: { k: hash },
    });
  }

  it('creates a document with its task and first job, and deduplicates by content', async () => {
    const first = await newDoc('same');
    const again = await newDoc('same');
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
    assert.equal(again.document.id, first.document.id);
    const task = await store.getTask('default', first.document.task_id);
    assert.equal(task?.status, 'queued');
    assert.equal(task?.progress.total, 5);
    const job = await queue.lease(['parse'], 'w1', 10_000);
    assert.equal(job?.documentId, first.document.id);
    assert.equal(await queue.lease(['parse'], 'w1', 10_000), null, 'the duplicate enqueued nothing');
    assert.ok(await queue.complete(job!, null));
  });

  it('postpone gives the attempt back: a job put back more times than its attempts allow is never buried', async () => {
    const { document } = await newDoc();
    for (let i = 0; i < 6; i++) {
      const job = await queue.lease(['parse'], 'w-disk', 10_000);
      assert.equal(job?.documentId, document.id, `leased again after postponement ${i}`);
      assert.equal(job!.attempts, 1, 'every lease is still the first attempt');
      assert.ok(await queue.postpone(job!, 'waiting for disk space', Date.now()));
      assert.equal(await queue.postpone(job!, 'again', Date.now()), false, 'a settled lease cannot postpone twice');
    }
    const last = await queue.lease(['parse'], 'w-disk', 10_000);
    assert.equal(last!.lastError, 'waiting for disk space');
    assert.ok(await queue.complete(last!, null));
  });

  it('leaseAndStart records the stage as started in the lease, with the last error as a retry note', async () => {
    const { document } = await newDoc();
    const start = { status: 'chunking' as const, stage: 'chunk' as const, progress: { done: 2, total: 5 }, retryNote: 'retrying after: ' };
    const parse = await queue.lease(['parse'], 'w-start', 10_000);
    assert.ok(await queue.complete(parse!, { scope, documentId: document.id, taskId: document.task_id, stage: 'chunk' }));
    const first = await queue.leaseAndStart(['chunk'], 'w-start', 10_000, start);
    assert.equal(first?.job.documentId, document.id);
    assert.deepEqual(
      { status: first!.task?.status, stage: first!.task?.stage, progress: first!.task?.progress, error: first!.task?.error },
      { status: 'running', stage: 'chunk', progress: { done: 2, total: 5 }, error: null },
    );
    assert.equal((await store.getDocument(scope, document.id))?.status, 'chunking');
    assert.ok(await queue.fail(first!.job, 'worker exploded', Date.now()));
    const again = await queue.leaseAndStart(['chunk'], 'w-start', 10_000, start);
    assert.equal(again?.task?.error, 'retrying after: worker exploded');
    assert.equal(await queue.leaseAndStart(['chunk'], 'w-start', 10_000, start), null, 'nothing else to lease');
    // Past its last attempt the job is leased for the pipeline to fail, and nothing is started.
    assert.ok(await queue.fail(again!.job, 'again', Date.now()));
    const third = await queue.leaseAndStart(['chunk'], 'w-start', 10_000, start);
    assert.ok(await queue.fail(third!.job, 'and again', Date.now()));
    const before = await store.getTask('default', document.task_id);
    const past = await queue.leaseAndStart(['chunk'], 'w-start', 10_000, start);
    assert.ok(past!.job.attempts > past!.job.maxAttempts);
    assert.equal(past!.task, null);
    assert.equal((await store.getTask('default', document.task_id))?.error, before?.error);
    assert.ok(await queue.complete(past!.job, null));
  });

  it('fences settle calls by lease token: a taken-over job cannot be completed by its old owner', async () => {
    const { document } = await newDoc();
    const a = await queue.lease(['parse'], 'worker-a', 50);
    assert.equal(a?.documentId, document.id);
    await new Promise((r) => setTimeout(r, 80));
    const b = await queue.lease(['parse'], 'worker-b', 10_000);
    assert.equal(b?.id, a!.id, 'expired lease is taken over');
    assert.equal(b!.attempts, 2);
    assert.equal(await queue.heartbeat(a!, 1000), false);
    assert.equal(await queue.complete(a!, null), false, 'old owner is fenced off');
    assert.ok(await queue.complete(b!, { scope, documentId: document.id, taskId: document.task_id, stage: 'chunk' }));
    const next = await queue.lease(['chunk'], 'worker-b', 10_000);
    assert.equal(next?.documentId, document.id, 'completion enqueued the next stage atomically');
    assert.ok(await queue.complete(next!, null));
  });

  it('retries with a due time, buries after the last attempt, and counts per stage', async () => {
    await newDoc();
    const j1 = await queue.lease(['parse'], 'w', 10_000);
    assert.ok(await queue.fail(j1!, 'boom', Date.now() + 60_000));
    assert.equal(await queue.lease(['parse'], 'w', 10_000), null, 'not due yet');
    assert.equal((await queue.counts()).parse.waiting, 1);
    assert.equal(await queue.fail(j1!, 'stale', null), false, 'a settled lease token is dead');
    // Make it due by handing it back through a fresh lease cycle.
    await store.writer.call('failJob', { id: j1!.id, token: j1!.leaseToken, error: 'x', retryAt: null }).then((ok) => assert.equal(ok, false));
    const db = (await import('better-sqlite3')).default(join(dir, 'ragd.db'));
    db.prepare('UPDATE jobs SET run_at = 0 WHERE id = ?').run(Number(j1!.id));
    db.close();
    const j2 = await queue.lease(['parse'], 'w', 10_000);
    assert.equal(j2?.attempts, 2);
    assert.equal(j2?.lastError, 'boom', 'the previous error travels with the retry');
    assert.ok(await queue.fail(j2!, 'boom again', null));
    const counts = await queue.counts();
    assert.equal(counts.parse.failed, 1);
    assert.equal(counts.parse.waiting, 0);
    assert.equal(await queue.lease(['parse'], 'w', 10_000), null, 'a buried job is never leased');
  });

  it('hands leases back on release and expires dead owners at once', async () => {
    await newDoc();
    const leased = await queue.lease(['parse'], 'host:1:dead', 60_000);
    assert.ok(leased);
    assert.equal(await queue.lease(['parse'], 'other', 60_000), null);
    const reclaimed = await queue.reclaimDead((o) => o !== 'host:1:dead');
    assert.equal(reclaimed, 1);
    const taken = await queue.lease(['parse'], 'other', 60_000);
    assert.equal(taken?.id, leased.id);
    assert.equal(await queue.release('other'), 1);
    const again = await queue.lease(['parse'], 'third', 60_000);
    assert.equal(again?.id, leased.id);
    assert.equal(again?.attempts, taken!.attempts, 'a released lease does not use up an attempt');
    assert.ok(await queue.complete(again!, null));
  });

  it('commits an index exactly once, however often it runs, and delete removes every trace', async () => {
    const { document } = await newDoc();
    const drafts: ChunkDraft[] = [
      { ordinal: 0, text: 'Photosynthesis converts light into chemical energy.', tokenCount: 7, headingPath: ['Plants'], page: 1 },
      { ordinal: 1, text: 'Mitochondria are the powerhouse of the cell.', tokenCount: 8, headingPath: ['Cells'], page: 2 },
    ];
    const chunksPath = join(dir, 'chunks.json');
    const vectorsPath = join(dir, 'vectors.f32');
    writeFileSync(chunksPath, JSON.stringify(drafts));
    const vectors = new Float32Array(drafts.length * DIM);
    vectors[0] = 1;
    vectors[DIM + 1] = 1;
    writeFileSync(vectorsPath, Buffer.from(vectors.buffer));
    const versionBefore = (await store.getKb(scope))!.version;
    const commit = { scope, documentId: document.id, taskId: document.task_id, chunksPath, vectorsPath, embedDim: DIM };
    const first = await store.commitIndex(commit);
    const second = await store.commitIndex(commit);
    assert.equal(first?.chunks, 2);
    assert.equal(second?.chunks, 2);
    assert.equal(second?.task.status, 'succeeded');
    assert.ok((await store.getKb(scope))!.version > versionBefore, 'indexing bumps the KB version');

    const hits = await store.searchLexical(scope, 'mitochondria powerhouse', 5);
    assert.equal(hits.length, 1, 'no duplicate rows after two commits');
    assert.equal(hits[0]?.page, 2);
    assert.deepEqual(hits[0]?.headingPath, ['Cells']);
    const near = new Float32Array(DIM);
    near[0] = 0.9;
    near[2] = 0.1;
    const vhits = await store.searchVector(scope, near, 5);
    assert.equal(vhits.length, 2);
    assert.equal(vhits[0]?.ordinal, 0);
    assert.equal((await store.searchLexical(scope, 'cell', 5, { metadata: { k: 'nope' } })).length, 0, 'metadata filter applies');

    const doc = await store.getDocument(scope, document.id);
    assert.equal(doc?.status, 'ready');
    assert.equal(doc?.chunks, 2);

    const v1 = (await store.getKb(scope))!.version;
    assert.ok(await store.deleteDocument(scope, document.id));
    assert.equal((await store.searchLexical(scope, 'mitochondria', 5)).length, 0);
    assert.equal((await store.searchVector(scope, near, 5)).length, 0);
    assert.ok((await store.getKb(scope))!.version > v1, 'delete bumps the KB version');
    assert.equal(await store.commitIndex(commit), null, 'a deleted document is never indexed again');
  });

  it('keeps tenants and KBs apart in every lookup', async () => {
    await store.createKb('other', { id: 'kb2', name: 'kb2', embedder: `hash:${DIM}`, embedDim: DIM });
    assert.equal((await store.listKbs('other')).length, 1);
    assert.equal(await store.getKb({ tenantId: 'default', kbId: 'kb2' }), null);
    const { document } = await newDoc();
    assert.equal(await store.getDocument({ tenantId: 'other', kbId: 'default' }, document.id), null);
    assert.equal(await store.getTask('other', document.task_id), null);
  });
});
