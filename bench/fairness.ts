/**
 * `npm run bench:fairness`: how long does tenant B's single document take to become ready while
 * tenant A has a large backlog queued, compared with the same document on an idle pipeline?
 *
 * In-process on a fresh data directory (the real services, SQLite job table, worker threads; with
 * RAGD_DATABASE_URL, RAGD_REDIS_URL and RAGD_BLOB_DIR set, the cluster adapters: BullMQ fenced in
 * PostgreSQL, the same process running every stage):
 * one runtime, two tenants. (a) B's document alone, three times; (b) A enqueues BENCH_DOCS
 * documents (default 2000), the pipeline starts, and once A's first document is ready B uploads
 * one. Prints both latencies side by side, their ratio, and how many of A's documents finished
 * before B's (FIFO leasing would make that all of them).
 *
 * Env: BENCH_DOCS (A's backlog, default 2000), BENCH_DOC_BYTES (default 3000).
 */
import { rm } from 'node:fs/promises';
import pino from 'pino';
import { ALL_ROLES, createRuntime, type Runtime } from '../src/app/runtime.js';
import { loadConfig } from '../src/config/config.js';
import type { Scope } from '../src/domain/types.js';
import { prng, syntheticDocument, tempDir, waitFor } from '../test/support/server.js';

const A: Scope = { tenantId: 'A', kbId: 'default' };
const B: Scope = { tenantId: 'B', kbId: 'default' };

function envInt(name: string, fallback: number): number {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`);
  return n;
}

/** Uploads one document for B and resolves with the milliseconds until it is ready. */
async function timeToReady(runtime: Runtime, text: string, name: string): Promise<number> {
  const started = performance.now();
  let readyAt = 0;
  const unsubscribe = runtime.bus.subscribeKb(B.tenantId, B.kbId, (e) => {
    if (e.task.kind === 'ingest' && e.task.status === 'succeeded' && readyAt === 0) readyAt = performance.now();
  });
  try {
    await runtime.documents.uploadText(B, { name, text });
    await waitFor(() => readyAt > 0, { timeoutMs: 600_000, intervalMs: 5, what: `${name} ready` });
    return readyAt - started;
  } finally {
    unsubscribe();
  }
}

async function main(): Promise<void> {
  const docs = envInt('BENCH_DOCS', 2000);
  const bytes = envInt('BENCH_DOC_BYTES', 3000);
  const dir = await tempDir('ragd-bench-fair-');
  const runtime = await createRuntime(loadConfig({ ...process.env, RAGD_DATA_DIR: dir }), pino({ level: 'warn' }), { roles: ALL_ROLES, startPipeline: false });
  const rand = prng(11);
  try {
    await runtime.kbs.create(A.tenantId, { id: A.kbId });
    await runtime.kbs.create(B.tenantId, { id: B.kbId });
    await runtime.pipeline.start();

    const idle: number[] = [];
    for (let i = 0; i < 3; i++) idle.push(await timeToReady(runtime, syntheticDocument(rand, 100_000 + i, 'md', bytes).text, `idle-${i}.md`));
    await runtime.pipeline.stop(5_000);

    for (let i = 0; i < docs; i++) {
      const doc = syntheticDocument(rand, i, 'md', bytes);
      await runtime.documents.uploadText(A, { name: doc.name, text: doc.text });
    }
    let aReady = 0;
    const unsubscribe = runtime.bus.subscribeKb(A.tenantId, A.kbId, (e) => {
      if (e.task.kind === 'ingest' && e.task.status === 'succeeded') aReady++;
    });
    await runtime.pipeline.start();
    await waitFor(() => aReady >= 1, { timeoutMs: 600_000, intervalMs: 5, what: "A's first document" });
    const aAtUpload = aReady;
    const contended = await timeToReady(runtime, syntheticDocument(rand, 200_000, 'md', bytes).text, 'contended.md');
    const aBefore = aReady;
    unsubscribe();

    const idleMs = [...idle].sort((x, y) => x - y)[1]!;
    console.log(`\nB's one document (${bytes} B) while tenant A has ${docs} queued, ${runtime.config.workers} worker threads, ${runtime.mode} mode`);
    console.log(`  idle pipeline: ${idleMs.toFixed(0)} ms (median of 3)  ·  behind A's backlog: ${contended.toFixed(0)} ms  ·  ratio ${(contended / idleMs).toFixed(2)}`);
    console.log(`  A's documents ready meanwhile: ${aBefore - aAtUpload} (of ${docs - aAtUpload} still queued when B uploaded; FIFO would finish all of them first)`);
  } finally {
    await runtime.close(5_000);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
