/**
 * Pieces shared by the bench:query parts: seeding a small query corpus, a bulk ingest running in
 * the background, and closed-loop query latency.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { once } from 'node:events';
import { REPO_ROOT, sleep, syntheticCorpus } from '../test/support/server.js';
import { type Client, closedLoop, openLoop, percentile, type Until } from './load.js';
import type { Questions } from './questions.js';

export async function waitIndexed(client: Client, kb: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await client.post(`/v1/kbs/${kb}/query`, { query: 'status', mode: 'lexical', top_k: 1, only_context: true });
    if (r.status === 200 && JSON.parse(r.body).pending_documents === 0) return;
    if (Date.now() > deadline) throw new Error(`${kb}: documents still pending after ${timeoutMs} ms`);
    await sleep(500);
  }
}

/** Creates `kb` with 40 small seeded documents, teaches `questions` their words, waits until indexed. */
export async function seedQueryKb(client: Client, kb: string, questions: Questions): Promise<void> {
  await client.post('/v1/kbs', { id: kb });
  const seed = [...syntheticCorpus({ seed: 7, count: 40, minBytes: 2 * 1024, maxBytes: 16 * 1024 })];
  for (const d of seed) await client.post(`/v1/kbs/${kb}/documents`, { name: d.name, text: d.text });
  questions.learn(seed.map((d) => d.text));
  await waitIndexed(client, kb, 120_000);
}

/** Resolves when the uploader prints `ready` (its corpus is built); rejects if it exits first. */
function uploaderReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const early = (code: number | null) => reject(new Error(`the uploader exited with ${String(code)} before it was ready`));
    child.once('exit', early);
    child.stdout!.once('data', (line: Buffer) => {
      child.off('exit', early);
      if (line.toString().startsWith('ready')) resolve();
      else reject(new Error(`the uploader said ${line.toString().slice(0, 200)}`));
    });
  });
}

/**
 * Uploads `bytes` of synthetic documents into `kb` from a separate process (bench/uploader.ts)
 * and watches until every one is indexed. Resolves once the uploader has built its bodies and
 * started posting, so a window timed from then holds no uploader start-up; `done()` turns true
 * when every document is indexed (or at the timeout).
 */
export async function bulkIngest(
  client: Client,
  url: string,
  kb: string,
  bytes: number,
  timeoutS: number,
  headers: Record<string, string> = {},
): Promise<{ done: () => boolean; finished: Promise<void> }> {
  let uploading = true;
  let pending = 1;
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/uploader.ts', url, kb, String(bytes), JSON.stringify(headers)], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // Its sending still shares the server's two cores: at the lowest priority it only uses what is
  // spare. The query load generator stays at normal priority: it measures.
  try {
    setPriority(child.pid!, 19);
  } catch {
    // Not permitted here: it competes at normal priority, and the ratio is pessimistic.
  }
  let timedOut = false;
  const exited = once(child, 'exit');
  await uploaderReady(child);
  child.stdin!.end('go\n');
  const uploads = exited.then(([code]) => {
    uploading = false;
    // Stopped at the timeout by the watcher below: the run reports what it got, as before.
    if (code !== 0 && !timedOut) throw new Error(`the uploader exited with ${String(code)}`);
  });
  const watcher = (async () => {
    const deadline = Date.now() + timeoutS * 1000;
    while ((uploading || pending > 0) && Date.now() < deadline) {
      await sleep(1000);
      const r = await client.post(`/v1/kbs/${kb}/query`, { query: 'status', mode: 'lexical', top_k: 1, only_context: true });
      pending = r.status === 200 ? JSON.parse(r.body).pending_documents : pending;
    }
    timedOut = uploading || pending > 0;
    pending = 0;
    uploading = false;
    if (timedOut) child.kill();
  })();
  const finished = Promise.all([uploads, watcher]).then(() => undefined);
  // The caller awaits `finished` only after its load window; a failure before then must not count
  // as an unhandled rejection, which would end the bench without stopping its server.
  finished.catch(() => {});
  return { done: () => !uploading && pending === 0, finished };
}

/** Latency figures of one load window: percentiles of what completed, its count, and the raw latencies (for pooling). */
export interface LoadStats {
  p50: number;
  p99: number;
  n: number;
  errors: number;
  latencies: number[];
}

/** One LoadStats over several windows' samples: a p99 from more samples than any one window has. */
export function pooled(windows: LoadStats[]): LoadStats {
  const latencies = windows.flatMap((w) => w.latencies);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), n: latencies.length, errors: windows.reduce((e, w) => e + w.errors, 0), latencies };
}

/**
 * Only_context hybrid queries on `kb`, either as a closed loop of 5 clients (saturating: every
 * core the server has goes to queries, so any CPU ingestion takes shows up) or at a fixed rate
 * of `perSecond` (open loop: the wait a question sees at that traffic). Windows of `until` ms or
 * until `until()` turns true.
 */
export function queryLoad(client: Client, questions: Questions, kb = 'bench', perSecond?: number) {
  return async (until: Until): Promise<LoadStats> => {
    const ask = () => client.post(`/v1/kbs/${kb}/query`, { query: questions.next(), only_context: true });
    const r = perSecond === undefined ? await closedLoop(5, until, ask) : await openLoop(perSecond, until, ask);
    return { p50: percentile(r.latencies, 50), p99: percentile(r.latencies, 99), n: r.latencies.length, errors: r.errors, latencies: r.latencies };
  };
}
