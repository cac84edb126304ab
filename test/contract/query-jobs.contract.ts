/**
 * The query-jobs port's conformance suite: what a `/retrieve` job does whichever adapter runs it.
 * `describeQueryJobs(name, make)` is called by test/adapters/query-jobs-conformance.test.ts with
 * the embedded adapter (RetrieveJobs on SQLite) and the cluster one (PostgreSQL + BullMQ).
 * The runner is a stand-in (the query service is not under test); store and queue are real.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { AppError, notFound } from '../../src/domain/errors.js';
import type { Scope, TaskEvent, TaskView } from '../../src/domain/types.js';
import { MemoryEventBus } from '../../src/adapters/embedded/memory-event-bus.js';
import type { EventBus } from '../../src/ports/event-bus.js';
import type { QueryJobConsumer, QueryJobProducer, QueryRunner } from '../../src/ports/query-jobs.js';
import type { Store } from '../../src/ports/store.js';
import type { QueryHooks, QueryRequest, QueryResult } from '../../src/services/query/types.js';

export interface QueryJobsDeps {
  runner: QueryRunner;
  bus: EventBus;
  admit?: (tenantId: string) => Promise<() => void>;
}

export interface QueryJobsOptions {
  concurrency: number;
  maxQueued: number;
  resultTtlMs: number;
}

export interface QueryJobsUnderTest {
  producer: QueryJobProducer;
  /** Started by the suite. May be the producer itself (embedded). */
  consumer: QueryJobConsumer;
  /** Where the tasks are read back. */
  store: Store;
  close(): Promise<void>;
}

export type MakeQueryJobs = (deps: QueryJobsDeps, opts: QueryJobsOptions) => Promise<QueryJobsUnderTest>;

export const SCOPE: Scope = { tenantId: 'default', kbId: 'default' };
const MISSING_KB: Scope = { tenantId: 'default', kbId: 'no-such-kb' };

export function request(query: string): QueryRequest {
  return { query, mode: 'lexical', topK: 5, onlyContext: true };
}

export function resultFor(query: string): QueryResult {
  return { answer: `answer to ${query}`, answer_kind: null, citations: [], pending_documents: 0, cached: false, timings_ms: {} as QueryResult['timings_ms'] };
}

/**
 * A stand-in query service. A query named `block:<x>` waits until `unblock(x)` (or its abort
 * signal); `fail:app` throws a client-facing error, `fail:bug` an internal one; anything else
 * answers at once. It counts what runs at once and every run, so tests can see the cap and
 * redeliveries.
 */
export class StandInRunner implements QueryRunner {
  inFlight = 0;
  maxInFlight = 0;
  readonly runs: string[] = [];
  private readonly gates = new Map<string, () => void>();
  private readonly started = new Map<string, () => void>();
  private readonly startedPromises = new Map<string, Promise<void>>();

  /** With `blocking` false, `block:` queries answer at once too (a second worker's runner). */
  constructor(
    readonly label = 'runner',
    private readonly blocking = true,
  ) {}

  async assertKb(scope: Scope): Promise<unknown> {
    if (scope.kbId === MISSING_KB.kbId) throw notFound('knowledge base');
    return {};
  }

  /** Resolves when a query named `block:<name>` has started. */
  whenStarted(name: string): Promise<void> {
    let p = this.startedPromises.get(name);
    if (!p) {
      p = new Promise<void>((r) => this.started.set(name, r));
      this.startedPromises.set(name, p);
    }
    return p;
  }

  unblock(name: string): void {
    this.gates.get(name)?.();
  }

  async run(_scope: Scope, req: QueryRequest, hooks: QueryHooks = {}): Promise<QueryResult> {
    this.runs.push(req.query);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.blocking && req.query.startsWith('block:')) {
        const name = req.query.slice('block:'.length);
        void this.whenStarted(name);
        const gate = new Promise<void>((resolve, reject) => {
          this.gates.set(name, resolve);
          hooks.signal?.addEventListener('abort', () => reject(hooks.signal!.reason as Error), { once: true });
        });
        this.started.get(name)!();
        await gate;
      }
      if (req.query === 'fail:app') throw new AppError(400, 'bad_query', 'this query cannot be answered');
      if (req.query === 'fail:bug') throw new Error('a bug in the query service');
      return { ...resultFor(req.query), answer: `${this.label}: ${req.query}` };
    } finally {
      this.inFlight--;
    }
  }
}

/** Polls the store until the task has ended (generous hang guard, no timing assertion). */
/** A tenant limit of one concurrent query, counted as the shared slot counter counts it (429 when full). */
export function oneQuerySlot(): { readonly held: number; admit: (tenantId: string) => Promise<() => void> } {
  let held = 0;
  return {
    get held() {
      return held;
    },
    admit: async (tenantId: string) => {
      assert.equal(tenantId, SCOPE.tenantId);
      if (held >= 1) throw new AppError(429, 'too_many_queries', 'the tenant is at its limit');
      held++;
      let released = false;
      return () => {
        if (!released) (released = true), held--;
      };
    },
  };
}

export async function waitForEnd(store: Store, tenantId: string, taskId: string, guardMs = 20_000): Promise<TaskView> {
  const until = Date.now() + guardMs;
  for (;;) {
    const task = await store.getTask(tenantId, taskId);
    if (task && (task.status === 'succeeded' || task.status === 'failed')) return task;
    if (Date.now() > until) throw new Error(`task ${taskId} did not end (last seen: ${task?.status ?? 'gone'})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function waitForStatus(store: Store, tenantId: string, taskId: string, status: string, guardMs = 20_000): Promise<void> {
  const until = Date.now() + guardMs;
  while ((await store.getTask(tenantId, taskId))?.status !== status) {
    if (Date.now() > until) throw new Error(`task ${taskId} never became ${status}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function describeQueryJobs(name: string, make: MakeQueryJobs): void {
  describe(`query jobs: ${name}`, () => {
    const opened: QueryJobsUnderTest[] = [];
    const open = async (deps: Partial<QueryJobsDeps> = {}, opts: Partial<QueryJobsOptions> = {}) => {
      const runner = (deps.runner as StandInRunner | undefined) ?? new StandInRunner();
      const bus = deps.bus ?? new MemoryEventBus();
      const events: TaskEvent[] = [];
      const unsubscribe = bus.subscribeKb(SCOPE.tenantId, SCOPE.kbId, (e) => events.push(e));
      const sut = await make({ runner, bus, ...(deps.admit ? { admit: deps.admit } : {}) }, { concurrency: 2, maxQueued: 50, resultTtlMs: 60_000, ...opts });
      await sut.consumer.start();
      opened.push(sut);
      return { ...sut, runner: runner as StandInRunner, events, unsubscribe };
    };

    after(async () => {
      for (const sut of opened) await sut.close();
    });

    it('runs a job: the task goes queued → running → succeeded with the answer as its result, every change published', async () => {
      const { producer, store, events } = await open();
      const task = await producer.submit(SCOPE, request('what is ragd?'), 'req-1');
      assert.equal(task.kind, 'retrieve');
      assert.equal(task.status, 'queued');
      const ended = await waitForEnd(store, SCOPE.tenantId, task.id);
      assert.equal(ended.status, 'succeeded');
      assert.equal((ended.result as QueryResult).answer, 'runner: what is ragd?');
      assert.deepEqual(ended.progress, { done: 1, total: 1 });
      const mine = events.filter((e) => e.task.id === task.id);
      assert.deepEqual(
        mine.map((e) => e.task.status),
        ['queued', 'running', 'succeeded'],
      );
      const versions = mine.map((e) => e.task.version);
      assert.deepEqual([...versions].sort((a, b) => a - b), versions, 'versions only grow');
    });

    it('a query that fails ends the task failed: a client-facing error by its code, anything else as "internal error"', async () => {
      const { producer, store } = await open();
      const app = await producer.submit(SCOPE, request('fail:app'));
      const bug = await producer.submit(SCOPE, request('fail:bug'));
      const a = await waitForEnd(store, SCOPE.tenantId, app.id);
      const b = await waitForEnd(store, SCOPE.tenantId, bug.id);
      assert.equal(a.status, 'failed');
      assert.equal(a.error, 'bad_query: this query cannot be answered');
      assert.equal(b.status, 'failed');
      assert.equal(b.error, 'internal error');
    });

    it('refuses a job for a KB that does not exist, creating no task', async () => {
      const { producer, events } = await open();
      await assert.rejects(producer.submit(MISSING_KB, request('anyone?')), (err: unknown) => err instanceof AppError && err.status === 404);
      assert.equal(events.length, 0);
    });

    it('runs no more jobs at once than its concurrency', async () => {
      const runner = new StandInRunner();
      const { producer, store } = await open({ runner }, { concurrency: 2 });
      const tasks = [];
      for (const n of ['c1', 'c2', 'c3', 'c4']) tasks.push(await producer.submit(SCOPE, request(`block:${n}`)));
      await Promise.all([runner.whenStarted('c1'), runner.whenStarted('c2')]);
      // Two run; the other two wait while those hold their slots.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(runner.inFlight, 2);
      for (const n of ['c1', 'c2']) runner.unblock(n);
      await Promise.all([runner.whenStarted('c3'), runner.whenStarted('c4')]);
      for (const n of ['c3', 'c4']) runner.unblock(n);
      for (const t of tasks) assert.equal((await waitForEnd(store, SCOPE.tenantId, t.id)).status, 'succeeded');
      assert.equal(runner.maxInFlight, 2);
    });

    it('refuses with 503 overloaded once maxQueued jobs wait, and takes jobs again once they drain', async () => {
      const runner = new StandInRunner();
      const { producer, store } = await open({ runner }, { concurrency: 1, maxQueued: 2 });
      const first = await producer.submit(SCOPE, request('block:q0'));
      await runner.whenStarted('q0');
      await waitForStatus(store, SCOPE.tenantId, first.id, 'running');
      const waiting = [await producer.submit(SCOPE, request('q1')), await producer.submit(SCOPE, request('q2'))];
      await assert.rejects(producer.submit(SCOPE, request('q3')), (err: unknown) => err instanceof AppError && err.status === 503 && err.code === 'overloaded');
      runner.unblock('q0');
      for (const t of [first, ...waiting]) assert.equal((await waitForEnd(store, SCOPE.tenantId, t.id)).status, 'succeeded');
      const again = await producer.submit(SCOPE, request('q4'));
      assert.equal((await waitForEnd(store, SCOPE.tenantId, again.id)).status, 'succeeded');
    });

    it("counts a job against the tenant's query limit: admitted at submit, released afterwards; a refusal creates no task", async () => {
      // A cluster admits twice, at submit and again on the worker while the job runs; never both at once.
      const slot = oneQuerySlot();
      const admit = slot.admit;
      const { producer, store, events } = await open({ admit });
      const task = await producer.submit(SCOPE, request('limited'));
      assert.equal((await waitForEnd(store, SCOPE.tenantId, task.id)).status, 'succeeded');
      const until = Date.now() + 10_000;
      while (slot.held !== 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.equal(slot.held, 0, 'the slot is given back');
      const otherQuery = await admit(SCOPE.tenantId); // the tenant's one slot, taken by a query elsewhere
      const before = events.length;
      await assert.rejects(producer.submit(SCOPE, request('refused')), (err: unknown) => err instanceof AppError && err.status === 429);
      assert.equal(events.length, before, 'no task for a refused job');
      otherQuery();
    });

    it('after close, submit answers 503 shutting_down; close is idempotent', async () => {
      const { producer, consumer } = await open();
      const first = producer.close(1_000);
      assert.equal(producer.close(1_000), first);
      await first;
      const c = consumer.close(1_000);
      assert.equal(consumer.close(1_000), c);
      await c;
      await assert.rejects(producer.submit(SCOPE, request('too late')), (err: unknown) => err instanceof AppError && err.code === 'shutting_down');
    });
  });
}
