import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { AppError } from '../../src/domain/errors.js';
import { AdmissionGate, BacklogGuard } from '../../src/services/admission.js';
import { SearchPool } from '../../src/workers/search-pool.js';

const gate = (maxConcurrent: number, maxQueued: number, maxWaitMs = 60_000) =>
  new AdmissionGate({ maxConcurrent, maxQueued, maxWaitMs, retryAfterSec: 2, what: 'queries' });

function assertOverloaded(err: unknown, retryAfter = '2'): true {
  assert.ok(err instanceof AppError, String(err));
  assert.equal(err.status, 503);
  assert.equal(err.code, 'overloaded');
  assert.equal(err.headers['retry-after'], retryAfter);
  return true;
}

describe('AdmissionGate', () => {
  it('admits up to the bound and refuses beyond it when no queue is allowed', async () => {
    const g = gate(2, 0);
    const a = await g.acquire();
    await g.acquire();
    await assert.rejects(g.acquire(), assertOverloaded);
    assert.deepEqual(g.stats(), { active: 2, queued: 0, admitted: 2, rejected: 1 });
    a();
    a(); // idempotent: a double release must not free a second slot
    assert.equal(g.stats().active, 1);
    await g.acquire();
    await assert.rejects(g.acquire(), assertOverloaded);
  });

  it('queues in arrival order up to maxQueued and hands a released slot to the first waiter', async () => {
    const g = gate(1, 2);
    const first = await g.acquire();
    const order: string[] = [];
    const w1 = g.acquire().then((r) => (order.push('w1'), r));
    const w2 = g.acquire().then((r) => (order.push('w2'), r));
    await assert.rejects(g.acquire(), assertOverloaded);
    assert.equal(g.stats().queued, 2);
    first();
    const r1 = await w1;
    assert.deepEqual(order, ['w1']);
    assert.equal(g.stats().active, 1, 'the slot moved to the waiter, it was not freed');
    r1();
    (await w2)();
    assert.deepEqual(g.stats(), { active: 0, queued: 0, admitted: 3, rejected: 1 });
  });

  it('refuses a waiter after maxWaitMs and drops one whose client left', async () => {
    const g = gate(1, 5, 30);
    const held = await g.acquire();
    await assert.rejects(g.acquire(), assertOverloaded);
    const controller = new AbortController();
    const leaving = g.acquire(controller.signal);
    controller.abort();
    await assert.rejects(leaving, (err) => err instanceof AppError && err.code === 'client_closed');
    assert.equal(g.stats().queued, 0);
    held();
    assert.equal(g.stats().active, 0, 'nobody was waiting any more: the slot is free');
  });
});

describe('BacklogGuard', () => {
  it('refuses at the limit and reads the backlog at most once per refresh', async () => {
    let backlog = 1;
    let reads = 0;
    const guard = new BacklogGuard(async () => (reads++, backlog), { maxBacklog: 2, retryAfterSec: 5, refreshMs: 50 });
    await guard.check();
    backlog = 2;
    await guard.check(); // still the cached reading
    assert.equal(reads, 1);
    await new Promise((r) => setTimeout(r, 60));
    await assert.rejects(guard.check(), (err) => assertOverloaded(err, '5'));
    assert.equal(reads, 2);
  });
});

describe('worker pool queue bound', () => {
  const pool = new SearchPool({ dbPath: '/nonexistent/ragd.db', threads: 1, maxQueue: 2 });
  after(() => pool.close());

  it('refuses tasks beyond maxQueue with 503 overloaded and runs the rest', async () => {
    const input = { query: 'otters', sources: [{ n: 1, text: 'Sea otters hold hands while they sleep. '.repeat(50) }] };
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => pool.extractAnswer(input)));
    const refused = results.filter((r) => r.status === 'rejected');
    const done = results.filter((r) => r.status === 'fulfilled');
    assert.ok(refused.length > 0, 'a burst of 20 into 1 thread + 2 queued must be refused in part');
    for (const r of refused) assertOverloaded((r as PromiseRejectedResult).reason, '1');
    assert.ok(done.length >= 3, `${done.length} ran`);
  });
});
