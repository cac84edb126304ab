import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { openDatabase } from '../../src/adapters/embedded/sqlite/open.js';
import { SqliteJobQueue } from '../../src/adapters/embedded/sqlite/sqlite-job-queue.js';
import type { SqliteStore } from '../../src/adapters/embedded/sqlite/sqlite-store.js';
import type { TenantLimitsSource } from '../../src/ports/tenant-limits.js';
import { UNLIMITED } from '../../src/services/tenant-limits-source.js';
import { tempSqliteStore, type TempStore } from '../support/sqlite.js';

const DIM = 8;
describe('weighted-fair leasing across tenants (real SQLite)', () => {
  let temp: TempStore;
  let store: SqliteStore;
  let queue: SqliteJobQueue;
  const weights = new Map<string, number>();
  const limits: TenantLimitsSource = { limitsFor: async (t) => ({ ...UNLIMITED, pipelineWeight: weights.get(t) ?? 1 }) };

  beforeEach(async () => {
    temp = await tempSqliteStore('ragd-fair-', DIM);
    store = temp.store;
    queue = new SqliteJobQueue(store.writer, 3, { limits });
    weights.clear();
  });
  afterEach(async () => temp.remove());

  let n = 0;
  async function enqueue(tenantId: string, count: number, priority?: number): Promise<void> {
    if (!(await store.getKb({ tenantId, kbId: 'kb' }))) {
      await store.createKb(tenantId, { id: 'kb', name: 'kb', embedder: `hash:${DIM}`, embedDim: DIM });
    }
    for (let i = 0; i < count; i++) {
      const id = `${tenantId}_${n++}`;
      await queue.enqueue({
        scope: { tenantId, kbId: 'kb' },
        documentId: `doc_${id}`,
        taskId: `task_${id}`,
        stage: 'parse',
        ...(priority === undefined ? {} : { priority }),
      });
    }
  }

  /** Leases (and completes) `count` jobs; returns the tenant of each, in order. */
  async function drain(count: number): Promise<string[]> {
    const order: string[] = [];
    for (let i = 0; i < count; i++) {
      const job = await queue.lease(['parse'], 'w', 10_000);
      if (!job) break;
      order.push(job.scope.tenantId);
      assert.ok(await queue.complete(job, null));
    }
    return order;
  }

  it('alternates between equal tenants, whatever order their jobs arrived in', async () => {
    await enqueue('A', 100);
    await enqueue('B', 3);
    const order = await drain(8);
    assert.deepEqual(order.slice(0, 6).sort(), ['A', 'A', 'A', 'B', 'B', 'B']);
    assert.deepEqual(order.slice(6), ['A', 'A'], 'B is drained; A takes every slot again');
    for (let i = 1; i < 6; i++) assert.notEqual(order[i], order[i - 1], `turns alternate: ${order.join('')}`);
  });

  it('gives a weight-3 tenant three leases for each of a weight-1 tenant', async () => {
    weights.set('heavy', 3);
    await queue.refreshWeights();
    await enqueue('heavy', 60);
    await enqueue('light', 60);
    await queue.refreshWeights();
    const order = await drain(40);
    const heavy = order.filter((t) => t === 'heavy').length;
    assert.equal(heavy, 30, `heavy got ${heavy} of 40: ${order.join(',')}`);
  });

  it('a tenant that was idle re-enters at the present, without banked credit', async () => {
    await enqueue('A', 50);
    await drain(40); // A alone: its virtual time runs far ahead of B's (which never ran).
    await enqueue('B', 50);
    const order = await drain(20);
    const b = order.filter((t) => t === 'B').length;
    assert.ok(b >= 9 && b <= 11, `B takes turns with A instead of monopolising the queue: ${order.join('')}`);
  });

  it('priority still comes first, across tenants', async () => {
    await enqueue('A', 5);
    await enqueue('B', 1, 10);
    const [first] = await drain(1);
    assert.equal(first, 'B');
  });

  it('counts live jobs per tenant, so leases look only at tenants that have some', async () => {
    await enqueue('A', 3);
    await enqueue('B', 2);
    const live = () => {
      const db = openDatabase(store.dbPath, { readonly: true });
      try {
        return Object.fromEntries(
          (db.prepare('SELECT tenant_id, jobs FROM tenant_sched ORDER BY tenant_id').all() as { tenant_id: string; jobs: number }[]).map((r) => [r.tenant_id, r.jobs]),
        );
      } finally {
        db.close();
      }
    };
    assert.deepEqual(live(), { A: 3, B: 2 });
    await drain(3);
    await store.deleteKb({ tenantId: 'B', kbId: 'kb' });
    assert.deepEqual(live(), { A: 1, B: 0 }, 'completed and deleted jobs are subtracted');
    assert.deepEqual(await drain(5), ['A']);
  });

  it('the per-tenant probe uses the jobs_fair index (no scan of the job table)', async () => {
    await enqueue('A', 5);
    const db = openDatabase(store.dbPath, { readonly: true });
    try {
      const plan = db
        .prepare(
          `EXPLAIN QUERY PLAN SELECT q.id FROM jobs q INDEXED BY jobs_fair
           WHERE q.tenant_id = ? AND q.stage = ? AND q.status = 'queued' AND q.run_at <= ?
           ORDER BY q.priority, q.run_at, q.id LIMIT 1`,
        )
        .all('A', 'parse', Date.now()) as { detail: string }[];
      const details = plan.map((p) => p.detail).join(' | ');
      assert.match(details, /USING (COVERING )?INDEX jobs_fair/);
      assert.doesNotMatch(details, /TEMP B-TREE/, 'ordered by the index, not sorted');
    } finally {
      db.close();
    }
  });
});
