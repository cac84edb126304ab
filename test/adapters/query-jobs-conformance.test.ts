/**
 * The query-jobs conformance suite against the embedded adapter (RetrieveJobs on SQLite) and the
 * cluster one (PostgreSQL on the local server, a database of its own per instance; BullMQ on the
 * local Redis, a key prefix of its own per run, its keys deleted afterwards), then what only the
 * cluster can do: a job submitted by one process run by another, a Redis that lost the job, a
 * redelivery, a worker handing a job back at shutdown, the reconciler's lock and expiry.
 * PostgreSQL or Redis not answering fails the run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { BullmqQueryJobConsumer } from '../../src/adapters/cluster/bullmq/query-job-consumer.js';
import { ClusterQueryJobs } from '../../src/adapters/cluster/bullmq/query-job-factory.js';
import { BullmqQueryJobProducer } from '../../src/adapters/cluster/bullmq/query-job-producer.js';
import { addQueryJob, openQueryJobQueue, QUERY_JOB_QUEUE, queueConnection, type QueryJobRedis } from '../../src/adapters/cluster/bullmq/query-job-queue.js';
import { QueryJobReconciler } from '../../src/adapters/cluster/bullmq/query-job-reconciler.js';
import { PostgresQueryJobs } from '../../src/adapters/cluster/postgres/postgres-query-jobs.js';
import { PostgresStore } from '../../src/adapters/cluster/postgres/postgres-store.js';
import { MemoryEventBus } from '../../src/adapters/embedded/memory-event-bus.js';
import type { TaskEvent } from '../../src/domain/types.js';
import { runQueryJob } from '../../src/services/query/query-job-runner.js';
import { RetrieveJobs } from '../../src/services/query/retrieve-jobs.js';
import type { QueryResult } from '../../src/services/query/types.js';
import { describeQueryJobs, oneQuerySlot, request, SCOPE, StandInRunner, waitForEnd, type QueryJobsDeps } from '../contract/query-jobs.contract.js';
import { tempDatabase, type TempDatabase } from '../support/postgres.js';
import { tempSqliteStore } from '../support/sqlite.js';

const REDIS_URL = process.env.RAGD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const storeOptions = { defaultEmbedder: 'hash:8', embedDim: 8, maxAttempts: 3 };

/** A BullMQ prefix no other run uses; its keys are deleted when the run ends. */
function redisFor(run: string): QueryJobRedis {
  return { url: REDIS_URL, prefix: `ragd-test-qjobs-${run}` };
}

async function deleteKeys(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let deleted = 0;
    for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 500 })) {
      if ((keys as string[]).length) deleted += await redis.del(...(keys as string[]));
    }
    return deleted;
  } finally {
    redis.disconnect();
  }
}

/** A queue handle of the test's own, to look at or add jobs as a process would. */
function testQueue(redis: QueryJobRedis) {
  const connection = queueConnection(redis);
  const queue = openQueryJobQueue(redis, connection);
  return {
    queue,
    async close() {
      await queue.close();
      connection.disconnect();
    },
  };
}

async function assertRedisAnswers(): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 5000, retryStrategy: () => null, lazyConnect: true });
  redis.on('error', () => {});
  try {
    await redis.connect();
    assert.equal(await redis.ping(), 'PONG');
  } catch (err) {
    throw new Error(`Redis is not answering at ${REDIS_URL} (start it, as .ci/run does): ${(err as Error).message}`);
  } finally {
    redis.disconnect();
  }
}

describeQueryJobs('embedded (RetrieveJobs on SQLite)', async (deps, opts) => {
  const temp = await tempSqliteStore('ragd-query-jobs-');
  const jobs = new RetrieveJobs({ store: temp.store, bus: deps.bus, query: deps.runner, ...(deps.admit ? { admit: deps.admit } : {}) }, opts);
  return {
    producer: jobs,
    consumer: jobs,
    store: temp.store,
    async close() {
      await jobs.close(1_000);
      await temp.remove();
    },
  };
});

/** One cluster process's pieces on a shared database and Redis prefix. */
async function clusterInstance(db: TempDatabase, redis: QueryJobRedis, deps: QueryJobsDeps, opts: { concurrency: number; maxQueued: number; resultTtlMs: number }) {
  const jobs = new PostgresQueryJobs(db.pool);
  const producer = new BullmqQueryJobProducer(
    { jobs, query: deps.runner, bus: deps.bus, redis, ...(deps.admit ? { admit: deps.admit } : {}) },
    { resultTtlMs: opts.resultTtlMs, maxQueued: opts.maxQueued },
  );
  const consumer = new BullmqQueryJobConsumer({ jobs, query: deps.runner, bus: deps.bus, redis }, { concurrency: opts.concurrency });
  const reconciler = new QueryJobReconciler({ jobs, bus: deps.bus, redis }, { intervalMs: 60_000, graceMs: 5_000 });
  return { jobs, producer, consumer, reconciler };
}

describeQueryJobs('cluster (PostgreSQL + BullMQ, as the composition root builds it)', async (deps, opts) => {
  await assertRedisAnswers();
  const db = await tempDatabase();
  const store = new PostgresStore(db.pool, storeOptions);
  await store.init();
  const redis = redisFor(randomBytes(6).toString('hex'));
  const jobs = new ClusterQueryJobs(
    db.pool,
    { redis, bus: deps.bus, query: deps.runner, ...(deps.admit ? { admit: deps.admit } : {}), purgeExpiredTasks: (now) => store.purgeExpiredTasks(now) },
    { runJobs: true, ...opts },
  );
  return {
    producer: jobs,
    consumer: jobs,
    store,
    async close() {
      await jobs.close(1_000);
      await deleteKeys(redis.prefix!);
      await db.drop();
    },
  };
});

describe('query jobs: cluster only', () => {
  const run = randomBytes(6).toString('hex');
  const redis = redisFor(run);
  let db: TempDatabase;
  let store: PostgresStore;
  const closers: (() => Promise<unknown>)[] = [];
  const opts = { concurrency: 2, maxQueued: 50, resultTtlMs: 60_000 };

  /** A separate "process": its own pool, Redis connections and runner, on the same database and prefix. */
  async function instance(runner: StandInRunner, bus = new MemoryEventBus()) {
    const pool = await import('../../src/adapters/cluster/postgres/pool.js').then((m) =>
      m.createPool({ url: db.url, max: 3, connectTimeoutMs: 5000, statementTimeoutMs: 30_000 }),
    );
    const own = { ...db, pool };
    const parts = await clusterInstance(own, redis, { runner, bus }, opts);
    closers.push(async () => {
      await parts.producer.close(1_000);
      await parts.consumer.close(1_000);
      await parts.reconciler.close();
      await pool.end();
    });
    return { ...parts, runner, bus };
  }

  const ready = (async () => {
    await assertRedisAnswers();
    db = await tempDatabase();
    store = new PostgresStore(db.pool, storeOptions);
    await store.init();
  })();

  after(async () => {
    await ready.catch(() => {});
    for (const close of closers.reverse()) await close().catch(() => {});
    await deleteKeys(redis.prefix!);
    await db?.drop();
  });

  it('a job submitted through one process is run by a worker in another', async () => {
    await ready;
    // The API node as `ragd serve` builds it: no consumer.
    const apiRunner = new StandInRunner('api');
    const api = new ClusterQueryJobs(db.pool, { redis, bus: new MemoryEventBus(), query: apiRunner }, { runJobs: false, ...opts });
    closers.push(() => api.close(1_000));
    assert.equal(api.consumer, null);
    await api.start();
    const worker = await instance(new StandInRunner('worker'));
    await worker.consumer.start();
    const task = await api.submit(SCOPE, request('across processes'));
    const ended = await waitForEnd(store, SCOPE.tenantId, task.id);
    assert.equal(ended.status, 'succeeded');
    assert.equal((ended.result as QueryResult).answer, 'worker: across processes');
    assert.deepEqual(apiRunner.runs, []);
    await worker.consumer.close(1_000);
  });

  it("a running job holds its tenant's query slot: with a limit of one, the worker runs that tenant's jobs one at a time", async () => {
    await ready;
    const slot = oneQuerySlot();
    const api = new ClusterQueryJobs(db.pool, { redis, bus: new MemoryEventBus(), query: new StandInRunner('api') }, { runJobs: false, ...opts });
    closers.push(() => api.close(1_000));
    await api.start();
    const runner = new StandInRunner('limited');
    const worker = new ClusterQueryJobs(db.pool, { redis, bus: new MemoryEventBus(), query: runner, admit: slot.admit }, { runJobs: true, ...opts, concurrency: 3 });
    closers.push(() => worker.close(1_000));
    await worker.start();
    // The API node here checks no limit at submit, so both jobs reach the worker at once.
    const more = [await api.submit(SCOPE, request('block:slot-3')), await api.submit(SCOPE, request('slot-4'))];
    await runner.whenStarted('slot-3');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(runner.maxInFlight, 1, 'the second job waited for the slot instead of running beside the first');
    runner.unblock('slot-3');
    for (const t of more) assert.equal((await waitForEnd(store, SCOPE.tenantId, t.id)).status, 'succeeded');
    assert.equal(runner.maxInFlight, 1);
    assert.equal(slot.held, 0, 'every slot given back');
    // Later tests share the queue: this worker must not take their jobs.
    await worker.close(1_000);
    await api.close(1_000);
  });

  it('Redis loses the job (its keys deleted): the reconciler enqueues it again from PostgreSQL and the task still succeeds', async () => {
    await ready;
    const api = await instance(new StandInRunner('api'));
    const task = await api.producer.submit(SCOPE, request('survives Redis'));
    assert.ok((await deleteKeys(redis.prefix!)) > 0, 'the job was in Redis');
    const { queue, close } = testQueue(redis);
    assert.equal(await queue.getJob(task.id), undefined);
    // A reconciler with no grace, so the fresh job counts as lost at once.
    const reconciler = new QueryJobReconciler({ jobs: api.jobs, bus: api.bus, redis }, { intervalMs: 60_000, graceMs: 0 });
    closers.push(() => reconciler.close());
    const pass = await reconciler.reconcileOnce();
    assert.ok(pass && pass.requeued >= 1, 'the lost job was enqueued again');
    assert.ok(await queue.getJob(task.id), 'the job is back in Redis');
    assert.deepEqual(await reconciler.reconcileOnce(), { requeued: 0, expired: 0 }, 'a job that exists is left alone');
    await close();
    const worker = await instance(new StandInRunner('worker'));
    await worker.consumer.start();
    const ended = await waitForEnd(store, SCOPE.tenantId, task.id);
    assert.equal(ended.status, 'succeeded');
    assert.equal((ended.result as QueryResult).answer, 'worker: survives Redis');
    await worker.consumer.close(1_000);
  });

  it('Redis unreachable at submit: the job is accepted from PostgreSQL alone, and enqueued by the reconciler once Redis answers', async () => {
    await ready;
    const bus = new MemoryEventBus();
    const jobs = new PostgresQueryJobs(db.pool);
    // Nothing listens on port 1: every Redis call of this producer fails.
    const cut = new BullmqQueryJobProducer(
      { jobs, query: new StandInRunner(), bus, redis: { url: 'redis://127.0.0.1:1', prefix: redis.prefix! } },
      { resultTtlMs: 60_000, maxQueued: 50, enqueueTimeoutMs: 500 },
    );
    closers.push(() => cut.close(1_000));
    const task = await cut.submit(SCOPE, request('Redis was down'));
    assert.equal((await store.getTask(SCOPE.tenantId, task.id))?.status, 'queued');
    const reconciler = new QueryJobReconciler({ jobs, bus, redis }, { intervalMs: 60_000, graceMs: 0 });
    closers.push(() => reconciler.close());
    const pass = await reconciler.reconcileOnce();
    assert.ok(pass && pass.requeued >= 1);
    const worker = await instance(new StandInRunner('worker'));
    await worker.consumer.start();
    const ended = await waitForEnd(store, SCOPE.tenantId, task.id);
    assert.equal((ended.result as QueryResult).answer, 'worker: Redis was down');
    await worker.consumer.close(1_000);
  });

  it('a BullMQ job that finished while its task did not (kept as failed) is replaced by the reconciler', async () => {
    await ready;
    const api = await instance(new StandInRunner('api'));
    const task = await api.producer.submit(SCOPE, request('kept as failed'));
    const { queue, close } = testQueue(redis);
    // As if a worker gave up on it and BullMQ kept the failed job: one attempt, kept on failure,
    // and a worker whose every run throws.
    await (await queue.getJob(task.id))!.remove();
    await queue.add('retrieve', { taskId: task.id }, { jobId: task.id, attempts: 1, removeOnFail: false });
    const failing = new Worker(
      QUERY_JOB_QUEUE,
      async () => {
        throw new Error('gave up');
      },
      { connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }), prefix: redis.prefix! },
    );
    const failed = once(failing, 'failed');
    await failed;
    await failing.close();
    await failing.disconnect();
    assert.equal(await (await queue.getJob(task.id))?.getState(), 'failed');
    assert.equal((await store.getTask(SCOPE.tenantId, task.id))?.status, 'queued');
    const reconciler = new QueryJobReconciler({ jobs: api.jobs, bus: api.bus, redis }, { intervalMs: 60_000, graceMs: 0 });
    closers.push(() => reconciler.close());
    const pass = await reconciler.reconcileOnce();
    assert.ok(pass && pass.requeued >= 1, 'the failed job was replaced');
    assert.equal(await (await queue.getJob(task.id))?.getState(), 'prioritized');
    await close();
    const worker = await instance(new StandInRunner('worker'));
    await worker.consumer.start();
    assert.equal((await waitForEnd(store, SCOPE.tenantId, task.id)).status, 'succeeded');
    await worker.consumer.close(1_000);
  });

  it('a task ends once: a redelivery after it ended, or a second settle, changes nothing', async () => {
    await ready;
    const events: TaskEvent[] = [];
    const bus = new MemoryEventBus();
    bus.subscribeKb(SCOPE.tenantId, SCOPE.kbId, (e) => events.push(e));
    const node = await instance(new StandInRunner('first'), bus);
    await node.consumer.start();
    const task = await node.producer.submit(SCOPE, request('once'));
    const ended = await waitForEnd(store, SCOPE.tenantId, task.id);
    const job = { taskId: task.id, scope: SCOPE, req: request('once') };
    // A settle with another outcome, as a stale second delivery would try.
    assert.equal(await node.jobs.settle(job, { status: 'failed', error: 'late' }), null);
    // The runner itself, handed the job again: it finds the task ended and runs nothing.
    const second = new StandInRunner('second');
    assert.equal(await runQueryJob({ query: second, bus, settle: (j, p) => node.jobs.settle(j, p) }, job, new AbortController().signal), 'skipped');
    assert.deepEqual(second.runs, []);
    // BullMQ delivering it again (the job id is free after completion).
    const { queue, close } = testQueue(redis);
    await addQueryJob(queue, task.id);
    const until = Date.now() + 10_000;
    while ((await queue.getJob(task.id)) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    await close();
    const after = await store.getTask(SCOPE.tenantId, task.id);
    assert.deepEqual(after, ended);
    assert.equal(node.runner.runs.filter((q) => q === 'once').length, 1);
    assert.deepEqual(
      events.filter((e) => e.task.id === task.id).map((e) => e.task.status),
      ['queued', 'running', 'succeeded'],
    );
    await node.consumer.close(1_000);
  });

  it('a worker shutting down past its deadline hands its running job back; another worker finishes it', async () => {
    await ready;
    const leaving = await instance(new StandInRunner('leaving'));
    await leaving.consumer.start();
    const task = await leaving.producer.submit(SCOPE, request('block:handback'));
    await leaving.runner.whenStarted('handback');
    await leaving.consumer.close(200);
    const meanwhile = await store.getTask(SCOPE.tenantId, task.id);
    assert.notEqual(meanwhile?.status, 'failed', 'a handed-back job is not failed');
    assert.notEqual(meanwhile?.status, 'succeeded');
    const staying = await instance(new StandInRunner('staying', false));
    await staying.consumer.start();
    const ended = await waitForEnd(store, SCOPE.tenantId, task.id);
    assert.equal(ended.status, 'succeeded');
    assert.equal((ended.result as QueryResult).answer, 'staying: block:handback');
    await staying.consumer.close(1_000);
  });

  it('a worker killed with SIGKILL while it runs a job: its lock lapses and another worker takes the job over', async () => {
    await ready;
    // A prefix of its own: workers of one queue share the stalled check's schedule in Redis, and
    // the other tests' workers use BullMQ's default (30 s).
    const killRedis = redisFor(`${run}-kill`);
    closers.push(() => deleteKeys(killRedis.prefix!));
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../support/query-job-worker.ts', import.meta.url)), db.url, REDIS_URL, killRedis.prefix!, '1000', '300'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    closers.push(async () => void child.kill('SIGKILL'));
    const lines = createInterface({ input: child.stdout! });
    const seen = (want: string) =>
      new Promise<void>((resolve, reject) => {
        const guard = setTimeout(() => reject(new Error(`the worker process never printed "${want}"`)), 30_000);
        lines.on('line', (line) => line === want && (clearTimeout(guard), resolve()));
      });
    await seen('ready');
    const jobs = new PostgresQueryJobs(db.pool);
    const bus = new MemoryEventBus();
    const producer = new BullmqQueryJobProducer({ jobs, query: new StandInRunner(), bus, redis: killRedis }, opts);
    closers.push(() => producer.close(1_000));
    const started = seen('started killed mid-run');
    const task = await producer.submit(SCOPE, request('killed mid-run'));
    await started;
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.equal((await store.getTask(SCOPE.tenantId, task.id))?.status, 'running');
    const survivor = new BullmqQueryJobConsumer(
      { jobs, query: new StandInRunner('survivor'), bus, redis: killRedis },
      { concurrency: 1, lockDurationMs: 1_000, stalledIntervalMs: 300 },
    );
    closers.push(() => survivor.close(1_000));
    await survivor.start();
    const ended = await waitForEnd(store, SCOPE.tenantId, task.id, 60_000);
    assert.equal(ended.status, 'succeeded');
    assert.equal((ended.result as QueryResult).answer, 'survivor: killed mid-run');
    await survivor.close(1_000);
  });

  it('one reconciler pass at a time across processes (advisory lock)', async () => {
    await ready;
    const node = await instance(new StandInRunner());
    const reconciler = new QueryJobReconciler({ jobs: node.jobs, bus: node.bus, redis }, { intervalMs: 60_000, graceMs: 0 });
    closers.push(() => reconciler.close());
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let holding!: () => void;
    const isHeld = new Promise<void>((r) => (holding = r));
    const other = new PostgresQueryJobs(db.pool);
    const holder = other.whileReconcilerLockHeld(async () => {
      holding();
      await held;
      return 'held';
    });
    await isHeld;
    assert.equal(await reconciler.reconcileOnce(), null, 'skipped while another process holds the lock');
    release();
    assert.equal(await holder, 'held');
    assert.notEqual(await reconciler.reconcileOnce(), null, 'runs once the lock is free');
  });

  it('a job nobody ran before its result would expire is failed by the reconciler, and the change published', async () => {
    await ready;
    const events: TaskEvent[] = [];
    const bus = new MemoryEventBus();
    bus.subscribeKb(SCOPE.tenantId, SCOPE.kbId, (e) => events.push(e));
    const jobs = new PostgresQueryJobs(db.pool);
    const producer = new BullmqQueryJobProducer({ jobs, query: new StandInRunner(), bus, redis }, { resultTtlMs: 1_000, maxQueued: 50 });
    closers.push(() => producer.close(1_000));
    const task = await producer.submit(SCOPE, request('too slow'));
    const later = new Date(Date.now() + 2_000);
    const purged: Date[] = [];
    const purgeExpiredTasks = async (now: Date) => (purged.push(now), store.purgeExpiredTasks(now));
    const reconciler = new QueryJobReconciler({ jobs, bus, redis, now: () => later, purgeExpiredTasks }, { intervalMs: 60_000, graceMs: 0 });
    closers.push(() => reconciler.close());
    const pass = await reconciler.reconcileOnce();
    assert.ok(pass && pass.expired >= 1);
    assert.deepEqual(purged, [later], 'the pass purged expired results too');
    const ended = await store.getTask(SCOPE.tenantId, task.id);
    assert.equal(ended?.status, 'failed');
    assert.match(ended?.error ?? '', /expired/);
    assert.deepEqual(
      events.filter((e) => e.task.id === task.id).map((e) => e.task.status),
      ['queued', 'failed'],
    );
  });
});
