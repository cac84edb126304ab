/**
 * The real pipeline (PipelineService, the ingest worker pool, every stage) on the cluster queue:
 * BullMQ on the local Redis (a key prefix of its own) fenced in a PostgreSQL database of its own.
 * Two queue instances stand for two processes (an API node that creates the documents, a
 * worker), each with its own relay and reconciler, and both run stages. Every document must end
 * `ready`, each indexed once.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import { BullmqJobQueue } from '../../src/adapters/cluster/bullmq/bullmq-job-queue.js';
import { PostgresStore } from '../../src/adapters/cluster/postgres/postgres-store.js';
import { FsBlobStore } from '../../src/adapters/embedded/fs-blob-store.js';
import { loadConfig } from '../../src/config/config.js';
import type { Scope } from '../../src/domain/types.js';
import { HashEmbedder } from '../../src/providers/hash-embedder.js';
import { PipelineService } from '../../src/services/pipeline/pipeline-service.js';
import { sourceKey } from '../../src/services/pipeline/stage-files.js';
import { IngestPool } from '../../src/workers/ingest-pool.js';
import { eventually } from '../contract/job-queue.contract.js';
import { tempDatabase, type TempDatabase } from '../support/postgres.js';

const REDIS_URL = process.env.RAGD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const DIM = 16;
const DOCS = 12;
const scope: Scope = { tenantId: 'default', kbId: 'default' };

describe('the pipeline on BullMQ + PostgreSQL', () => {
  let db: TempDatabase;
  let dir: string;
  let pool: IngestPool;
  let store: PostgresStore;
  let redis: Redis;
  const prefix = `ragd-test-pipeline-${randomBytes(6).toString('hex')}`;
  const queues: BullmqJobQueue[] = [];
  const pipelines: PipelineService[] = [];

  before(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    await redis.ping();
    db = await tempDatabase(10);
    store = new PostgresStore(db.pool, { defaultEmbedder: `hash:${DIM}`, embedDim: DIM, maxAttempts: 3 });
    await store.init();
    dir = await mkdtemp(`${tmpdir()}/ragd-cluster-pipeline-`);
    pool = new IngestPool({ threads: 1, taskTimeoutMs: 60_000 });
  });

  after(async () => {
    for (const p of pipelines) await p.stop(5000);
    for (const q of queues) await q.close();
    await pool.close();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs every document to ready, each indexed once, with two processes sharing the work', async () => {
    const config = loadConfig({});
    const blobs = new FsBlobStore(dir);
    const embedder = new HashEmbedder(pool, DIM);
    const logger = pino({ level: 'silent' });
    for (let i = 0; i < 2; i++) {
      const queue = new BullmqJobQueue(db.pool, {
        redis: { url: REDIS_URL, prefix, stalledIntervalMs: 1000 },
        maxAttempts: 3,
        logger,
        relayIntervalMs: 250,
        reconcileIntervalMs: 1000,
        reconcileGraceMs: 2000,
      });
      queue.start();
      queues.push(queue);
      const pipeline = new PipelineService(
        {
          store, blobs, pool, queue, logger,
          bus: { publish: async () => {} } as never,
          embedders: { forTenant: async () => embedder, forKb: async () => embedder },
          ocr: {} as never,
          parseLimits: config.parse,
          chunking: { chunkTokens: 40, overlapTokens: 0 },
        },
        { concurrency: { parse: 2, ocr: 1, chunk: 1, embed: 1, index: 2 }, leaseMs: 10_000, backoffBaseMs: 100, backoffMaxMs: 500, pollMs: 300 },
      );
      pipelines.push(pipeline);
    }
    // The "API node" creates the documents; the announcement goes through its queue only.
    const ids: string[] = [];
    for (let i = 0; i < DOCS; i++) {
      const text = Array.from({ length: 30 + i }, (_, j) => `Paragraph ${j} of document ${i} talks about topic ${(i * 7 + j) % 11}.`).join('\n\n');
      const hash = `h${i}_${randomBytes(4).toString('hex')}`;
      const key = sourceKey(scope, hash);
      mkdirSync(dirname(blobs.pathOf(key)), { recursive: true });
      writeFileSync(blobs.pathOf(key), text);
      const { document } = await store.createDocument({
        scope, id: `doc_${hash}`, taskId: `task_${hash}`, name: `${hash}.txt`, type: 'text', contentHash: hash,
        bytes: Buffer.byteLength(text), blobKey: key, metadata: {},
      });
      queues[0]!.notifyRunnable('parse');
      ids.push(document.id);
    }
    for (const p of pipelines) await p.start();
    await eventually(
      'every document ready',
      async () => {
        const docs = await Promise.all(ids.map((id) => store.getDocument(scope, id)));
        const failed = docs.find((d) => d?.status === 'failed');
        if (failed) throw new Error(`document failed: ${failed.error}`);
        return docs.every((d) => d?.status === 'ready');
      },
      90_000,
    );
    const counts = (
      await db.pool.query<{ document_id: string; n: number; distinct_n: number }>(
        `SELECT document_id, count(*)::int AS n, count(DISTINCT ordinal)::int AS distinct_n FROM chunks GROUP BY document_id`,
      )
    ).rows;
    assert.equal(counts.length, DOCS);
    for (const c of counts) {
      assert.ok(c.n > 0);
      assert.equal(c.n, c.distinct_n, `document ${c.document_id} has duplicate chunks`);
      const doc = await store.getDocument(scope, c.document_id);
      assert.equal(doc?.chunks, c.n);
    }
    assert.equal((await db.pool.query('SELECT 1 FROM pipeline_jobs')).rowCount, 0, 'no pipeline row left');
    const depth = await queues[0]!.counts();
    for (const stage of ['parse', 'chunk', 'embed', 'index'] as const) assert.equal(depth[stage].waiting + depth[stage].active, 0);
  });
});
