import { setPriority } from 'node:os';
import { isMainThread } from 'node:worker_threads';

/**
 * Bulk work (the parse/chunk/embed workers and the SQLite writer thread) yields the CPU to
 * questions. Linux keeps the nice value per thread, and
 * `os.setPriority(n)` (pid 0) sets the calling thread's, so a worker thread can lower its own
 * priority without touching the event loop or the search threads: when both want a core, the
 * scheduler hands it to the query path; on an idle machine the bulk work runs at full speed.
 *
 * `RAGD_INGEST_NICE` (0–19, default 19; 0 turns it off). Elsewhere (or when refused) this is a no-op.
 */
export function yieldCpuToQueries(env: NodeJS.ProcessEnv = process.env): void {
  if (isMainThread) return; // only ever a worker thread's own priority
  lowerOwnPriority(env);
}

/**
 * A cluster worker that runs only pipeline stages does nothing but bulk work, its main thread
 * included (BullMQ, the index commit's postings, stage bookkeeping): when it shares a machine
 * with API nodes, it yields the CPU to them as its ingest threads do. Threads it starts later
 * inherit the value. Not for a worker with query jobs: those are questions someone waits on.
 */
export function yieldWorkerProcessToQueries(env: NodeJS.ProcessEnv = process.env): void {
  if (!isMainThread) return;
  lowerOwnPriority(env);
}

function lowerOwnPriority(env: NodeJS.ProcessEnv): void {
  const raw = Number(env.RAGD_INGEST_NICE ?? 19);
  const nice = Number.isInteger(raw) ? Math.min(19, Math.max(0, raw)) : 19;
  if (nice === 0) return;
  try {
    setPriority(nice);
  } catch {
    // Not permitted or not supported here: run at normal priority.
  }
}
