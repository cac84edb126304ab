/**
 * The EventBus port's conformance suite; every adapter passes it unchanged.
 * Runner: test/adapters/event-bus-conformance.test.ts.
 *
 * `a` and `b` are two nodes of one deployment: what is published on one reaches subscribers of
 * both. The embedded bus is one process, so it passes the same instance twice.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TaskEvent, TaskView } from '../../src/domain/types.js';
import type { EventBus } from '../../src/ports/event-bus.js';

export interface EventBusUnderTest {
  a: EventBus;
  b: EventBus;
  close(): Promise<void>;
}

/** Longest wait for an event that must arrive: a hang guard, not a timing assertion. */
const ARRIVES_WITHIN_MS = 5_000;

export function taskEvent(tenantId: string, kbId: string, taskId: string, version: number, status: TaskView['status'] = 'running'): TaskEvent {
  const now = new Date().toISOString();
  return {
    tenantId,
    kbId,
    task: {
      id: taskId, kind: 'ingest', kb: kbId, status, stage: 'parse', progress: { done: version, total: 4 },
      error: null, document_id: `doc-${taskId}`, result: null, created_at: now, updated_at: now, version,
    },
  };
}

/** Collects what a subscription hears; `until(n)` waits for the n-th event. */
export class Heard {
  readonly events: TaskEvent[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];

  readonly handler = (e: TaskEvent): void => {
    this.events.push(e);
    this.waiters = this.waiters.filter((w) => (this.events.length >= w.n ? (w.resolve(), false) : true));
  };

  until(n: number): Promise<TaskEvent[]> {
    if (this.events.length >= n) return Promise.resolve(this.events);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`heard ${this.events.length} of ${n} events`)), ARRIVES_WITHIN_MS);
      this.waiters.push({ n, resolve: () => (clearTimeout(timer), resolve(this.events)) });
    });
  }
}

export function describeEventBus(name: string, make: () => Promise<EventBusUnderTest>): void {
  describe(`EventBus conformance: ${name}`, () => {
    let sut: EventBusUnderTest;
    before(async () => {
      sut = await make();
    });
    after(async () => sut.close());

    const ids = () => ({ tenant: `t-${randomUUID()}`, kb: `kb-${randomUUID()}`, task: `task-${randomUUID()}` });

    it('delivers a task\'s events, published on one node, to a subscriber on the other, in order', async () => {
      const { tenant, kb, task } = ids();
      const heard = new Heard();
      const off = sut.b.subscribeTask(tenant, task, heard.handler);
      const published = [1, 2, 3, 4, 5].map((v) => taskEvent(tenant, kb, task, v, v === 5 ? 'succeeded' : 'running'));
      for (const e of published) await sut.a.publish(e);
      const events = await heard.until(5);
      off();
      assert.deepEqual(events, published, 'every field arrives as published');
    });

    it('delivers every task of a KB to a KB subscriber, and nothing of another KB', async () => {
      const { tenant, kb } = ids();
      const other = `kb-${randomUUID()}`;
      const heard = new Heard();
      const off = sut.a.subscribeKb(tenant, kb, heard.handler);
      await sut.b.publish(taskEvent(tenant, other, 'x1', 1));
      await sut.b.publish(taskEvent(tenant, kb, 't1', 1));
      await sut.b.publish(taskEvent(tenant, other, 'x2', 1));
      await sut.b.publish(taskEvent(tenant, kb, 't2', 1));
      const events = await heard.until(2);
      await settle(sut);
      off();
      assert.deepEqual(events.map((e) => e.task.id), ['t1', 't2']);
    });

    it('never delivers one tenant\'s events to another tenant with the same KB and task ids', async () => {
      const { kb, task } = ids();
      const [mine, theirs] = [`t-${randomUUID()}`, `t-${randomUUID()}`];
      const byTask = new Heard();
      const byKb = new Heard();
      const offs = [sut.b.subscribeTask(mine, task, byTask.handler), sut.b.subscribeKb(mine, kb, byKb.handler)];
      await sut.a.publish(taskEvent(theirs, kb, task, 1));
      await sut.a.publish(taskEvent(mine, kb, task, 2));
      await byTask.until(1);
      await byKb.until(1);
      await settle(sut);
      for (const off of offs) off();
      assert.deepEqual(byTask.events.map((e) => [e.tenantId, e.task.version]), [[mine, 2]]);
      assert.deepEqual(byKb.events.map((e) => [e.tenantId, e.task.version]), [[mine, 2]]);
    });

    it('stops delivering to a handler once it unsubscribes, and keeps delivering to the others', async () => {
      const { tenant, kb, task } = ids();
      const leaving = new Heard();
      const staying = new Heard();
      const offLeaving = sut.b.subscribeTask(tenant, task, leaving.handler);
      const offStaying = sut.a.subscribeTask(tenant, task, staying.handler);
      await sut.a.publish(taskEvent(tenant, kb, task, 1));
      await leaving.until(1);
      await staying.until(1);
      offLeaving();
      offLeaving(); // a second call does nothing
      await sut.a.publish(taskEvent(tenant, kb, task, 2));
      await staying.until(2);
      await settle(sut);
      offStaying();
      assert.equal(leaving.events.length, 1);
      assert.deepEqual(staying.events.map((e) => e.task.version), [1, 2]);
    });

    it('fans one event out to every subscriber of the task on both nodes', async () => {
      const { tenant, kb, task } = ids();
      const all = Array.from({ length: 6 }, () => new Heard());
      const offs = all.map((h, i) => (i % 2 ? sut.a : sut.b).subscribeTask(tenant, task, h.handler));
      await sut.b.publish(taskEvent(tenant, kb, task, 7));
      for (const h of all) assert.equal((await h.until(1))[0]!.task.version, 7);
      for (const off of offs) off();
    });
  });
}

/**
 * Lets anything still in flight arrive, so "nothing else came" is meaningful: a marker event
 * published after the others, on a topic of its own, arrives after them on the same path.
 */
async function settle(sut: EventBusUnderTest): Promise<void> {
  const marker = new Heard();
  const tenant = `marker-${randomUUID()}`;
  const off = sut.b.subscribeTask(tenant, 'm', marker.handler);
  await sut.a.publish(taskEvent(tenant, 'kb', 'm', 1));
  await marker.until(1);
  off();
}
