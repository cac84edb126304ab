/**
 * Fair scheduling, end to end: the real services (document service, SQLite job table, pipeline,
 * worker threads) on a real data directory. Tenant A has 500 documents queued, then tenant B
 * uploads one; with FIFO leasing B's document would wait behind all 500. With fair leasing it
 * takes the next free slot of each stage, so it is ready before A's 50th.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { createRuntime, type Runtime } from '../../src/app/runtime.js';
import { loadConfig } from '../../src/config/config.js';
import type { Scope } from '../../src/domain/types.js';
import { prng, syntheticDocument, tempDir, waitFor } from '../support/server.js';

const A_DOCS = 500;
const A: Scope = { tenantId: 'A', kbId: 'default' };
const B: Scope = { tenantId: 'B', kbId: 'default' };

describe('fair scheduling across tenants', { timeout: 600_000 }, () => {
  let dir: string;
  let runtime: Runtime;

  before(async () => {
    dir = await tempDir('ragd-fair-');
    const config = loadConfig({ RAGD_DATA_DIR: dir, RAGD_WORKERS: '2', RAGD_SHUTDOWN_TIMEOUT_MS: '2000' });
    // The pipeline starts once A's backlog is in place, so the backlog is really 500 deep.
    runtime = await createRuntime(config, pino({ level: 'silent' }), { startPipeline: false });
    await runtime.kbs.create(A.tenantId, { id: A.kbId });
    await runtime.kbs.create(B.tenantId, { id: B.kbId });
  });
  after(async () => {
    await runtime?.close(2000);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("B's single document is ready before A's 50th of 500", async (t) => {
    const rand = prng(7);
    for (let i = 0; i < A_DOCS; i++) {
      const doc = syntheticDocument(rand, i, 'md', 3000);
      await runtime.documents.uploadText(A, { name: doc.name, text: doc.text });
    }

    const readyOrder: string[] = [];
    const record = (tenant: string) => (e: { task: { status: string; kind: string } }) => {
      if (e.task.kind === 'ingest' && e.task.status === 'succeeded') readyOrder.push(tenant);
    };
    const unsubscribe = [runtime.bus.subscribeKb('A', 'default', record('A')), runtime.bus.subscribeKb('B', 'default', record('B'))];
    try {
      await runtime.pipeline.start();
      // A's backlog is being worked on: every slot is busy with A before B shows up.
      await waitFor(() => readyOrder.length >= 1, { timeoutMs: 120_000, what: "A's first document" });
      const aReadyWhenBUploaded = readyOrder.length;

      const b = await runtime.documents.uploadText(B, { name: 'b.md', text: syntheticDocument(rand, 9999, 'md', 3000).text });
      await waitFor(() => readyOrder.includes('B'), { timeoutMs: 300_000, what: "B's document" });
      const aReadyBeforeB = readyOrder.indexOf('B');

      t.diagnostic(`A ready when B uploaded: ${aReadyWhenBUploaded}; A ready before B: ${aReadyBeforeB}`);
      assert.equal((await runtime.documents.get(B, b.id)).status, 'ready');
      assert.ok(
        aReadyBeforeB < 50,
        `B's document must be ready before A's 50th; A had ${aReadyBeforeB} ready (${aReadyWhenBUploaded} when B uploaded)`,
      );
      // A's backlog is still there: B did not simply arrive after A was done.
      const pendingA = await runtime.store.countPending(A);
      assert.ok(pendingA > A_DOCS / 2, `A still has most of its backlog pending (${pendingA})`);
    } finally {
      for (const u of unsubscribe) u();
    }
  });
});
