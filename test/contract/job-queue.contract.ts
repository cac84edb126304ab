/**
 * The JobQueue port's conformance suite: the embedded queue (SQLite) and the cluster queue
 * (BullMQ fenced in PostgreSQL) must both pass it unchanged. Runner:
 * test/adapters/job-queue-conformance.test.ts.
 *
 * Documents are made through the Store, as in production: createDocument writes the first
 * (`parse`) job in its own transaction and the caller announces it with notifyRunnable.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PipelineStage, Scope } from '../../src/domain/types.js';
import type { JobQueue, LeasedJob, NewJob } from '../../src/ports/job-queue.js';
import type { Store } from '../../src/ports/store.js';

export interface JobQueueUnderTest {
  queue: JobQueue;
  /** The store whose createDocument writes a document's first job (its `default` KB exists). */
  store: Store;
  /** Every job's attempts limit. */
  maxAttempts: number;
  close(): Promise<void>;
}

const scope: Scope = { tenantId: 'default', kbId: 'default' };
/** Generous hang guard for anything asynchronous (relay passes, BullMQ's stalled check). */
const GUARD_MS = 15_000;

export async function eventually<T>(what: string, fn: () => Promise<T | null | undefined | false>, guardMs = GUARD_MS): Promise<T> {
  const until = Date.now() + guardMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The job's next stage, as the pipeline builds it. */
export function nextOf(job: LeasedJob, stage: PipelineStage): NewJob {
  return { scope: job.scope, documentId: job.documentId, taskId: job.taskId, stage, priority: job.priority, traceContext: job.traceContext ?? null };
}

let seq = 0;

/** A new document (and so its first job), announced to the queue. */
export async function newDocument(store: Store, queue: JobQueue, s: Scope = scope): Promise<string> {
  const hash = `jq${process.pid}_${Date.now()}_${seq++}`;
  const { document } = await store.createDocument({
    scope: s, id: `doc_${hash}`, taskId: `task_${hash}`, name: `${hash}.txt`, type: 'text',
    contentHash: hash, bytes: 10, blobKey: `sources/${s.tenantId}/${s.kbId}/${hash}`, metadata: {},
  });
  queue.notifyRunnable('parse');
  return document.id;
}

/** Leases until the job of `documentId` comes (other documents' jobs are failed for good first). */
export async function leaseDocument(queue: JobQueue, stage: PipelineStage, documentId: string, owner: string, leaseMs = 30_000): Promise<LeasedJob> {
  return eventually(`a ${stage} job of ${documentId}`, async () => {
    const job = await queue.lease([stage], owner, leaseMs);
    if (!job) return null;
    if (job.documentId === documentId) return job;
    await queue.fail(job, 'not this test’s document', null);
    return null;
  });
}

export function describeJobQueue(name: string, make: () => Promise<JobQueueUnderTest>): void {
  describe(`JobQueue conformance: ${name}`, () => {
    let sut: JobQueueUnderTest;
    let queue: JobQueue;
    let store: Store;

    before(async () => {
      sut = await make();
      queue = sut.queue;
      store = sut.store;
    });
    after(() => sut.close());

    it('leases a document’s first stage, and completing it hands the next stage on', async () => {
      const doc = await newDocument(store, queue);
      const job = await leaseDocument(queue, 'parse', doc, 'w1');
      assert.equal(job.stage, 'parse');
      assert.equal(job.attempts, 1);
      assert.equal(job.maxAttempts, sut.maxAttempts);
      assert.equal(job.scope.tenantId, 'default');
      assert.equal(job.lastError, null);
      assert.equal(await queue.lease(['parse'], 'w2', 30_000), null, 'a leased job is not leased twice');
      assert.equal(await queue.heartbeat(job, 30_000), true);
      assert.equal(await queue.complete(job, nextOf(job, 'chunk')), true);
      const chunk = await leaseDocument(queue, 'chunk', doc, 'w1');
      assert.equal(chunk.attempts, 1, 'a new stage starts with fresh attempts');
      assert.equal(chunk.taskId, job.taskId);
      assert.equal(await queue.complete(chunk, null), true);
      assert.equal(await queue.lease(['parse', 'ocr', 'chunk', 'embed', 'index'], 'w1', 30_000), null, 'the last stage leaves nothing');
    });

    it('wakes local consumers when a job becomes runnable', async () => {
      const woken: (PipelineStage | null)[] = [];
      const off = queue.onRunnable((s) => woken.push(s));
      try {
        const doc = await newDocument(store, queue);
        await eventually('a parse wake-up', async () => woken.includes('parse'));
        const job = await leaseDocument(queue, 'parse', doc, 'w1');
        await queue.complete(job, nextOf(job, 'chunk'));
        await eventually('a chunk wake-up', async () => woken.includes('chunk'));
        await queue.complete(await leaseDocument(queue, 'chunk', doc, 'w1'), null);
      } finally {
        off();
      }
    });

    it('a failed attempt is retried when due, with its error and the next attempt number', async () => {
      const doc = await newDocument(store, queue);
      const job = await leaseDocument(queue, 'parse', doc, 'w1');
      const retryAt = Date.now() + 700;
      assert.equal(await queue.fail(job, 'boom', retryAt), true);
      assert.equal(await queue.lease(['parse'], 'w1', 30_000), null, 'not before it is due');
      const again = await leaseDocument(queue, 'parse', doc, 'w1');
      assert.ok(Date.now() >= retryAt - 50, 'leased only once due');
      assert.equal(again.attempts, 2);
      assert.equal(again.lastError, 'boom');
      assert.equal(await queue.complete(again, null), true);
    });

    it('buries a job that failed for good, counts it, and revives it with fresh attempts', async () => {
      const doc = await newDocument(store, queue);
      const job = await leaseDocument(queue, 'parse', doc, 'w1');
      assert.equal(await queue.complete(job, nextOf(job, 'chunk')), true);
      const chunk = await leaseDocument(queue, 'chunk', doc, 'w1');
      const before = (await queue.counts()).chunk.failed;
      assert.equal(await queue.fail(chunk, 'bad input', null), true);
      assert.equal((await queue.counts()).chunk.failed, before + 1);
      assert.equal(await queue.lease(['chunk'], 'w1', 30_000), null, 'a buried job is not leased');
      assert.equal(await queue.revive({ tenantId: 'other', kbId: 'default' }, doc), null, 'only in its own scope');
      assert.equal(await queue.revive(scope, doc), 'chunk', 'revived at the stage that failed');
      assert.equal(await queue.revive(scope, doc), null, 'revived once');
      queue.notifyRunnable('chunk');
      const revived = await leaseDocument(queue, 'chunk', doc, 'w1');
      assert.equal(revived.attempts, 1);
      assert.equal((await queue.counts()).chunk.failed, before);
      assert.equal(await queue.complete(revived, null), true);
    });

    it('counts waiting and active jobs by stage', async () => {
      const doc = await newDocument(store, queue);
      await eventually('the job waiting', async () => (await queue.counts()).parse.waiting >= 1);
      const job = await leaseDocument(queue, 'parse', doc, 'w1');
      assert.ok((await queue.counts()).parse.active >= 1);
      await queue.complete(job, null);
    });

    it('cancelDocument drops the document’s job', async () => {
      const doc = await newDocument(store, queue);
      await eventually('the job waiting', async () => (await queue.counts()).parse.waiting >= 1);
      assert.equal(await queue.cancelDocument(doc), 1);
      assert.equal(await queue.lease(['parse'], 'w1', 30_000), null);
    });

    it('postpone puts a job back when due without using up an attempt, however often', async () => {
      const doc = await newDocument(store, queue);
      for (let i = 0; i <= sut.maxAttempts; i++) {
        const job = await leaseDocument(queue, 'parse', doc, 'w-disk');
        assert.equal(job.attempts, 1, `still the first attempt after ${i} postponements`);
        assert.equal(await queue.postpone(job, 'waiting for disk space', Date.now() + 50), true);
        assert.equal(await queue.postpone(job, 'again', Date.now()), false, 'a settled lease postpones nothing');
      }
      const last = await leaseDocument(queue, 'parse', doc, 'w-disk');
      assert.equal(last.lastError, 'waiting for disk space');
      assert.equal(await queue.complete(last, null), true);
    });

    it('release hands an owner’s jobs back at once, without using an attempt', async () => {
      const doc = await newDocument(store, queue);
      const job = await leaseDocument(queue, 'parse', doc, 'leaving');
      assert.equal(await queue.release('nobody'), 0);
      assert.equal(await queue.release('leaving'), 1);
      const taken = await leaseDocument(queue, 'parse', doc, 'staying');
      assert.equal(taken.attempts, job.attempts, 'the handed-back attempt is not counted');
      assert.equal(await queue.complete(job, nextOf(job, 'chunk')), false, 'the old holder settles nothing');
      assert.equal(await queue.complete(taken, null), true);
    });

    it('a job whose workers keep dying comes back past its attempts, for the pipeline to bury', async () => {
      const doc = await newDocument(store, queue);
      let job = await leaseDocument(queue, 'parse', doc, 'dies-0', 200);
      // Each holder dies silently (no settle, no heartbeat); the lease lapses and another takes over.
      for (let i = 1; i <= sut.maxAttempts; i++) job = await leaseDocument(queue, 'parse', doc, `dies-${i}`, 200);
      assert.equal(job.attempts, sut.maxAttempts + 1);
      assert.equal(await queue.fail(job, 'the worker running this stage was lost repeatedly', null), true);
      assert.equal(await queue.revive(scope, doc), 'parse');
      queue.notifyRunnable('parse');
      await queue.complete(await leaseDocument(queue, 'parse', doc, 'w1'), null);
    });

    it('fences a stale holder: once its lease lapsed and another took the job, it settles nothing', async () => {
      const doc = await newDocument(store, queue);
      const stale = await leaseDocument(queue, 'parse', doc, 'paused', 300);
      // The holder stops heartbeating (a long GC, SIGSTOP); the job is taken over.
      const fresh = await leaseDocument(queue, 'parse', doc, 'alive', 30_000);
      assert.notEqual(fresh.leaseToken, stale.leaseToken);
      assert.equal(fresh.attempts, stale.attempts + 1);
      assert.equal(await queue.heartbeat(stale, 30_000), false);
      assert.equal(await queue.complete(stale, nextOf(stale, 'chunk')), false);
      assert.equal(await queue.fail(stale, 'late', null), false);
      assert.equal(await queue.lease(['chunk'], 'w1', 30_000), null, 'the stale completion enqueued nothing');
      assert.equal(await queue.heartbeat(fresh, 30_000), true);
      assert.equal(await queue.complete(fresh, nextOf(fresh, 'chunk')), true);
      const chunk = await leaseDocument(queue, 'chunk', doc, 'alive');
      assert.equal(await queue.complete(chunk, null), true);
    });
  });
}
