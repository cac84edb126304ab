/**
 * The JobQueue port's conformance suite on the embedded queue (SQLite) and the cluster queue
 * (BullMQ on the local Redis, under a key prefix of its own, fenced in a PostgreSQL database of
 * its own), then what only the cluster has to prove: a stale worker commits nothing, and Redis
 * losing its data mid-way loses no document.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import pino from 'pino';
import { BullmqJobQueue } from '../../src/adapters/cluster/bullmq/bullmq-job-queue.js';
import { PostgresStore } from '../../src/adapters/cluster/postgres/postgres-store.js';
import { SqliteJobQueue } from '../../src/adapters/embedded/sqlite/sqlite-job-queue.js';
import type { ChunkDraft, Scope } from '../../src/domain/types.js';
import type { BlobStore } from '../../src/ports/blob-store.js';
import { stageKeys } from '../../src/services/pipeline/stage-files.js';
import { runStage, type StageDeps } from '../../src/services/pipeline/stages.js';
import { describeJobQueue, eventually, leaseDocument, newDocument, nextOf } from '../contract/job-queue.contract.js';
import { tempDatabase, type TempDatabase } from '../support/postgres.js';
import { tempSqliteStore } from '../support/sqlite.js';

const REDIS_URL = process.env.RAGD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const DIM = 8;
const MAX_ATTEMPTS = 3;
const storeOptions = { defaultEmbedder: `hash:${DIM}`, embedDim: DIM, maxAttempts: MAX_ATTEMPTS };

/** Deletes every key under `prefix` (never the whole database: other runs share it). */
async function deletePrefix(redis: Redis, prefix: string): Promise<number> {
  let n = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) n += await redis.del(...keys);
  } while (cursor !== '0');
  return n;
}

async function redisAnswering(): Promise<Redis> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw new Error(`Redis is not answering at ${REDIS_URL} (start it, as .ci/run does): ${(err as Error).message}`);
  }
  return redis;
}

interface ClusterQueue {
  db: TempDatabase;
  store: PostgresStore;
  queue: BullmqJobQueue;
  redis: Redis;
  prefix: string;
  /** Moves the reconciler's clock on (past its grace period) instead of waiting. */
  advance(ms: number): void;
  close(): Promise<void>;
}

async function clusterQueue(): Promise<ClusterQueue> {
  const redis = await redisAnswering();
  const db = await tempDatabase(8);
  const store = new PostgresStore(db.pool, storeOptions);
  await store.init();
  const prefix = `ragd-test-queue-${randomBytes(6).toString('hex')}`;
  let skew = 0;
  const queue = new BullmqJobQueue(db.pool, {
    redis: { url: REDIS_URL, prefix, stalledIntervalMs: 150 },
    maxAttempts: MAX_ATTEMPTS,
    logger: pino({ level: 'silent' }),
    relayIntervalMs: 200,
    reconcileIntervalMs: 400,
    clock: () => Date.now() + skew,
  });
  queue.start();
  return {
    db, store, queue, redis, prefix,
    advance: (ms) => (skew += ms),
    async close() {
      await queue.close();
      await deletePrefix(redis, prefix);
      redis.disconnect();
      await db.drop();
    },
  };
}

describeJobQueue('SQLite (embedded)', async () => {
  const temp = await tempSqliteStore('ragd-queue-contract-', DIM);
  const queue = new SqliteJobQueue(temp.store.writer, MAX_ATTEMPTS);
  return {
    queue, store: temp.store, maxAttempts: MAX_ATTEMPTS,
    async close() {
      await queue.close();
      await temp.remove();
    },
  };
});

describeJobQueue('BullMQ + PostgreSQL (cluster)', async () => {
  const c = await clusterQueue();
  return { queue: c.queue, store: c.store, maxAttempts: MAX_ATTEMPTS, close: () => c.close() };
});

describe('BullMQ + PostgreSQL: exactly once and nothing only in Redis', () => {
  let c: ClusterQueue;
  let dir: string;
  const scope: Scope = { tenantId: 'default', kbId: 'default' };

  before(async () => {
    c = await clusterQueue();
    dir = await mkdtemp(join(tmpdir(), 'ragd-queue-cluster-'));
  });
  after(async () => {
    await c.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Writes the stage files the index stage reads: `n` chunks and their vectors. */
  async function writeStageFiles(documentId: string, n: number): Promise<void> {
    const keys = stageKeys(scope, documentId);
    const drafts: ChunkDraft[] = Array.from({ length: n }, (_, ordinal) => ({ ordinal, text: `chunk ${ordinal} of ${documentId}`, tokenCount: 4, headingPath: [], page: null }));
    const vectors = new Float32Array(n * DIM).map((_, i) => (i % DIM === 0 ? 1 : 0));
    await mkdir(dirname(join(dir, keys.chunks)), { recursive: true });
    await writeFile(join(dir, keys.chunks), drafts.map((d) => `${JSON.stringify(d)}\n`).join(''));
    await writeFile(join(dir, keys.vectors), Buffer.from(vectors.buffer));
  }

  /** The index stage as the pipeline runs it (stages.ts), on files in `dir`. */
  function indexStage() {
    const deps = { store: c.store, blobs: { pathOf: (key: string) => join(dir, key) } as BlobStore } as unknown as StageDeps;
    return (job: Parameters<typeof runStage>[1]) => runStage(deps, job, new AbortController().signal);
  }

  async function toIndexStage(doc: string) {
    const parse = await leaseDocument(c.queue, 'parse', doc, 'w');
    assert.equal(await c.queue.complete(parse, nextOf(parse, 'index')), true);
  }

  it('a worker whose lock lapsed and whose job was taken over commits nothing; the document is indexed once', async () => {
    const doc = await newDocument(c.store, c.queue);
    await toIndexStage(doc);
    await writeStageFiles(doc, 3);
    const run = indexStage();
    // The paused worker: its 300 ms lock lapses, BullMQ's stalled check hands the job back.
    const stale = await leaseDocument(c.queue, 'index', doc, 'paused', 300);
    const fresh = await leaseDocument(c.queue, 'index', doc, 'alive');
    assert.ok(fresh.fence! > stale.fence!, 'the new attempt holds a newer fence');
    // Both run the stage; the stale one finds the fence moved on and writes nothing.
    assert.deepEqual(await run(stale), { kind: 'gone' });
    const done = await run(fresh);
    assert.equal(done.kind, 'indexed');
    assert.equal(await c.queue.complete(fresh, null), true);
    assert.equal(await c.queue.complete(stale, null), true, 'the document is finished: nothing left for anyone');
    // The stale worker resumes again later: still nothing.
    assert.deepEqual(await run(stale), { kind: 'gone' });
    const document = await c.store.getDocument(scope, doc);
    assert.equal(document?.status, 'ready');
    assert.equal(document?.chunks, 3, 'indexed once, no duplicate chunks');
    assert.ok(c.queue.counters().fenceRejections >= 0);
    assert.ok(c.queue.counters().stalledTakeovers >= 1, 'the takeover was counted');
  });

  it('a document deleted while its job waits is never run: the job is skipped', async () => {
    const doc = await newDocument(c.store, c.queue);
    await toIndexStage(doc);
    await eventually('the index job in BullMQ', async () => (await c.queue.counts()).index.waiting >= 1);
    assert.ok(await c.store.deleteDocument(scope, doc));
    const skipped = c.queue.counters().staleSkipped;
    assert.equal(await c.queue.lease(['index'], 'w', 30_000), null);
    assert.equal(c.queue.counters().staleSkipped, skipped + 1);
    assert.equal((await c.queue.counts()).index.waiting, 0, 'and gone from BullMQ');
  });

  it('a stale attempt that settles while the new one still runs is refused and counted', async () => {
    const doc = await newDocument(c.store, c.queue);
    const stale = await leaseDocument(c.queue, 'parse', doc, 'paused', 300);
    const fresh = await leaseDocument(c.queue, 'parse', doc, 'alive');
    const before = c.queue.counters().fenceRejections;
    assert.equal(await c.queue.fail(stale, 'late', Date.now()), false);
    assert.equal(c.queue.counters().fenceRejections, before + 1);
    assert.equal(await c.queue.complete(fresh, null), true);
  });

  it('a tenant with one small upload is served ahead of another tenant’s backlog', async () => {
    // A queue whose relay runs only when kicked, so one pass sees every row and prices them together.
    // Its own database too: the suite's started queue would relay these rows to its own prefix.
    const db = await tempDatabase(4);
    const store = new PostgresStore(db.pool, storeOptions);
    await store.init();
    const prefix = `ragd-test-fair-${randomBytes(6).toString('hex')}`;
    const queue = new BullmqJobQueue(db.pool, { redis: { url: REDIS_URL, prefix }, maxAttempts: MAX_ATTEMPTS, logger: pino({ level: 'silent' }) });
    try {
      for (const t of ['big', 'small']) await store.createKb(t, { id: 'kb', name: 'kb', embedder: `hash:${DIM}`, embedDim: DIM });
      const made = async (tenantId: string, i: number) => {
        const hash = `fair_${tenantId}_${i}_${randomBytes(3).toString('hex')}`;
        await store.createDocument({
          scope: { tenantId, kbId: 'kb' }, id: `doc_${hash}`, taskId: `task_${hash}`, name: hash, type: 'text',
          contentHash: hash, bytes: 100, blobKey: `sources/${tenantId}/kb/${hash}`, metadata: {},
        });
      };
      for (let i = 0; i < 8; i++) await made('big', i);
      await made('small', 0);
      queue.notifyRunnable('parse');
      await eventually('all nine queued in BullMQ', async () => (await queue.counts()).parse.waiting === 9);
      const order: string[] = [];
      for (let job = await queue.lease(['parse'], 'w', 30_000); job; job = await queue.lease(['parse'], 'w', 30_000)) {
        order.push(job.scope.tenantId);
        await queue.complete(job, null);
      }
      assert.equal(order.length, 9);
      assert.equal(order[0], 'small', `leased in the order ${order.join(', ')}`);
    } finally {
      await queue.close();
      await deletePrefix(c.redis, prefix);
      await db.drop();
    }
  });

  it('a job added by another process wakes this process’s idle consumers', async () => {
    // Process B: same database and prefix, no relay timer of its own, so only BullMQ's events can wake it.
    const b = new BullmqJobQueue(c.db.pool, { redis: { url: REDIS_URL, prefix: c.prefix }, maxAttempts: MAX_ATTEMPTS, logger: pino({ level: 'silent' }) });
    try {
      assert.equal(await b.lease(['index'], 'b', 30_000), null, 'idle: nothing to do yet');
      const woken: (string | null)[] = [];
      b.onRunnable((s) => woken.push(s));
      const doc = await newDocument(c.store, c.queue);
      await toIndexStage(doc);
      await eventually('B woken for the index stage', async () => woken.includes('index'));
      const job = await leaseDocument(b, 'index', doc, 'b');
      assert.equal(await b.complete(job, null), true);
    } finally {
      await b.close();
    }
  });

  it('one reconciler at a time: while another process holds the lock, a pass does nothing', async () => {
    const other = await c.db.pool.connect();
    try {
      await other.query('SELECT pg_advisory_lock(7240118004)');
      const passes = c.queue.counters().passes;
      assert.equal(await c.queue.reconciler.runOnce(), false);
      assert.equal(c.queue.counters().passes, passes);
      await other.query('SELECT pg_advisory_unlock(7240118004)');
      assert.equal(await c.queue.reconciler.runOnce(), true);
      assert.ok(c.queue.counters().passes > passes);
    } finally {
      other.release();
    }
  });

  it('Redis losing the prefix’s data mid-way: the reconciler re-adds the work and every document completes', async () => {
    const docs = await Promise.all([1, 2, 3].map(() => newDocument(c.store, c.queue)));
    // One document a stage ahead, one held by a worker when Redis loses everything.
    const first = await eventually('a parse job', () => c.queue.lease(['parse'], 'w', 30_000));
    await c.queue.complete(first, nextOf(first, 'chunk'));
    const held = await eventually('another parse job', () => c.queue.lease(['parse'], 'w', 30_000));
    await eventually('every job in Redis', async () => {
      const n = await c.queue.counts();
      return n.parse.waiting + n.parse.active + n.chunk.waiting >= 3;
    });
    assert.ok((await deletePrefix(c.redis, c.prefix)) > 0);
    assert.equal(await c.queue.heartbeat(held, 30_000), false, 'the holder learns its job is gone');
    const readded = c.queue.counters().readded;
    // Past the grace period (rows sent just now are not judged: their add may be under way).
    c.advance(60_000);
    await c.queue.reconciler.runOnce();
    assert.ok(c.queue.counters().readded >= readded + 2, 'the lost jobs were re-added');
    // Every document runs to the end: lease whatever is runnable until no row is left.
    await eventually('every document finished', async () => {
      const job = await c.queue.lease(['parse', 'chunk'], 'w2', 30_000);
      if (job) assert.equal(await c.queue.complete(job, job.stage === 'parse' ? nextOf(job, 'chunk') : null), true);
      const left = await c.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pipeline_jobs WHERE document_id = ANY($1)`, [docs]);
      return left.rows[0]!.n === 0;
    });
  });
});
