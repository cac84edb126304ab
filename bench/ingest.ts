/**
 * `npm run bench:ingest`: how fast does a fresh `ragd serve` take a corpus from upload to
 * `ready`, and what does that cost the event loop and memory?
 *
 * Generates a deterministic corpus (~50 MB; BENCH_MB to change) of .txt/.md/.html documents,
 * starts ragd as a child process on a fresh data directory, uploads everything over HTTP
 * (multipart, 8 at a time), and waits until every document has settled. Meanwhile it samples
 * the child's RSS every 200 ms and scrapes /metrics every second for the event-loop delay.
 *
 * It runs once per embedder: the local hash embedder, and a remote one (the stand-in model server
 * in this process serving /v1/embeddings), and prints server CPU-seconds per MB and peak RSS next
 * to MB/s for each.
 *
 * Env: BENCH_MB (corpus size, default 50), BENCH_TIMEOUT_S (default 540), BENCH_SEED (default 1),
 * BENCH_EMBEDDERS (default hash,remote).
 */
import { openAsBlob } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startFakeOpenAI } from '../test/support/fake-openai.js';
import { cleanUpOnSignal, cpuMsOf, envNumber, runBench } from './load.js';
import {
  listDocuments,
  postFiles,
  sleep,
  spawnServer,
  syntheticCorpus,
  tempDir,
  type SpawnedServer,
  type SyntheticKind,
} from '../test/support/server.js';

const MB = 1024 * 1024;
const UPLOAD_CONCURRENCY = 8;
const RSS_EVERY_MS = 200;
const SCRAPE_EVERY_MS = 1000;

interface CorpusFile {
  path: string;
  name: string;
  bytes: number;
  kind: SyntheticKind;
}

interface LoopWindow {
  p50: number;
  p99: number;
  max: number;
}


async function writeCorpus(dir: string, totalBytes: number, seed: number): Promise<CorpusFile[]> {
  const files: CorpusFile[] = [];
  for (const doc of syntheticCorpus({ seed, totalBytes, minBytes: 5 * 1024, maxBytes: 500 * 1024 })) {
    const path = join(dir, doc.name);
    const data = Buffer.from(doc.text, 'utf8');
    await writeFile(path, data);
    files.push({ path, name: doc.name, bytes: data.length, kind: doc.kind });
  }
  return files;
}

/** The value of one sample of the Prometheus text format, or null when absent. */
function metricValue(text: string, name: string, labels = ''): number | null {
  const prefix = labels ? `${name}{${labels}} ` : `${name} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? null : Number(line.slice(prefix.length));
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

/** VmRSS of a process in bytes (Linux), or null where /proc is not available. */
async function rssOf(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Runs `worker` over `items` with at most `n` at a time. */
async function pool<T>(items: readonly T[], n: number, worker: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await worker(items[next++]!);
    }),
  );
}

const median = (xs: number[]) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

type EmbedderKind = 'hash' | 'remote';

async function main(): Promise<number> {
  const kinds = (process.env.BENCH_EMBEDDERS ?? 'hash,remote').split(',') as EmbedderKind[];
  let code = 0;
  for (const kind of kinds) code = Math.max(code, await runOnce(kind));
  return code;
}

async function runOnce(embedder: EmbedderKind): Promise<number> {
  const targetMb = envNumber('BENCH_MB', 50);
  const timeoutMs = envNumber('BENCH_TIMEOUT_S', 540) * 1000;
  const seed = envNumber('BENCH_SEED', 1);
  const cleanup: (() => Promise<void>)[] = [];
  let server: SpawnedServer | null = null;

  // Ctrl-C: kill the child and remove the temp dirs synchronously, then leave.
  const dirs: string[] = [];
  const disarm = cleanUpOnSignal(() => server?.child.kill('SIGKILL'), dirs);

  try {
    const corpusDir = await tempDir('ragd-bench-corpus-');
    dirs.push(corpusDir);
    cleanup.push(() => rm(corpusDir, { recursive: true, force: true }));
    const dataDir = await tempDir('ragd-bench-data-');
    dirs.push(dataDir);
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    await mkdir(corpusDir, { recursive: true });

    process.stderr.write(`generating a ${targetMb} MB corpus … `);
    const files = await writeCorpus(corpusDir, targetMb * MB, seed);
    const corpusBytes = files.reduce((n, f) => n + f.bytes, 0);
    process.stderr.write(`${files.length} files\nstarting ragd … `);

    const fake = embedder === 'remote' ? await startFakeOpenAI({ embedDim: 384 }) : null;
    if (fake) cleanup.push(() => fake.close());
    const remote: Record<string, string> = fake ? { RAGD_EMBED_BASE_URL: fake.url, RAGD_EMBED_MODEL: 'fake-embed', RAGD_EMBED_DIM: '384' } : {};
    server = await spawnServer({ RAGD_DATA_DIR: dataDir, RAGD_LOG_LEVEL: 'warn', ...remote }, { compiled: true });
    const { url } = server;
    const pid = server.child.pid!;
    process.stderr.write(`${url} (pid ${pid})\n`);

    const idleRss = await rssOf(pid);
    await scrape(url); // ends the event-loop window that covered start-up

    // Samplers run until ingestion is over.
    let sampling = true;
    let peakRss = idleRss ?? 0;
    const windows: LoopWindow[] = [];
    let settled = { ready: 0, failed: 0 };
    const rssLoop = (async () => {
      while (sampling) {
        const rss = await rssOf(pid);
        if (rss !== null && rss > peakRss) peakRss = rss;
        await sleep(RSS_EVERY_MS);
      }
    })();
    const takeWindow = async () => {
      const text = await scrape(url);
      const p50 = metricValue(text, 'ragd_event_loop_delay_p50_seconds');
      const p99 = metricValue(text, 'ragd_event_loop_delay_p99_seconds');
      const max = metricValue(text, 'ragd_event_loop_delay_max_seconds');
      if (p50 !== null && p99 !== null && max !== null) windows.push({ p50, p99, max });
      settled = {
        ready: metricValue(text, 'ragd_documents', 'status="ready"') ?? 0,
        failed: metricValue(text, 'ragd_documents', 'status="failed"') ?? 0,
      };
    };

    const cpuBefore = (await cpuMsOf(pid)) ?? 0;
    const started = Date.now();
    const deadline = started + timeoutMs;
    let uploaded = 0;
    const uploadErrors: string[] = [];
    const uploads = pool(files, UPLOAD_CONCURRENCY, async (f) => {
      const res = await postFiles(url, 'default', [{ name: f.name, bytes: await openAsBlob(f.path) }]);
      if (res.status === 202) uploaded++;
      else uploadErrors.push(`${f.name}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    });
    let uploadsDone = false;
    let uploadedAt = 0;
    void uploads.finally(() => {
      uploadsDone = true;
      uploadedAt = Date.now();
    });

    // Completion is read from the metrics scrape itself: no extra requests during the run.
    for (;;) {
      await sleep(SCRAPE_EVERY_MS);
      await takeWindow();
      if (uploadsDone && settled.ready + settled.failed >= uploaded) break;
      if (Date.now() > deadline) throw new Error(`not done after ${timeoutMs / 1000} s: ${settled.ready} ready, ${settled.failed} failed of ${files.length}`);
    }
    await uploads;
    const cpuS = (((await cpuMsOf(pid)) ?? 0) - cpuBefore) / 1000;
    sampling = false;
    await rssLoop;

    // The exact finish time is when the last document became ready (its updated_at), not the
    // scrape that noticed it.
    const docs = await listDocuments(url, 'default');
    const finished = Math.max(...docs.map((d) => Date.parse(d.updated_at)));
    const wallS = (finished - started) / 1000;
    const chunks = docs.reduce((n, d) => n + d.chunks, 0);
    const failed = docs.filter((d) => d.status === 'failed');

    // Writer round trips, by operation: what the pipeline's bookkeeping costs the single writer.
    const writerCalls = new Map<string, number>();
    for (const m of (await scrape(url)).matchAll(/^ragd_db_call_duration_seconds_count\{op="([^"]+)",outcome="ok"\} (\d+)/gm)) {
      if (Number(m[2]) > 0) writerCalls.set(m[1]!, Number(m[2]));
    }
    const totalCalls = [...writerCalls.values()].reduce((a, b) => a + b, 0);
    const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;
    const kinds = (k: SyntheticKind) => files.filter((f) => f.kind === k).length;
    const rows: [string, string][] = [
      ['corpus', `${(corpusBytes / MB).toFixed(1)} MB in ${files.length} files (txt ${kinds('txt')}, md ${kinds('md')}, html ${kinds('html')})`],
      ['uploads', `${uploaded} accepted in ${((uploadedAt - started) / 1000).toFixed(1)} s (${UPLOAD_CONCURRENCY} at a time)`],
      ['wall to ready', `${wallS.toFixed(1)} s`],
      ['embedder', embedder === 'hash' ? 'local hash' : 'remote (stand-in /v1/embeddings over HTTP)'],
      ['throughput', `${(corpusBytes / MB / wallS).toFixed(2)} MB/s · ${(docs.length / wallS).toFixed(1)} documents/s`],
      ['server CPU', `${cpuS.toFixed(1)} CPU-s · ${(cpuS / (corpusBytes / MB)).toFixed(3)} CPU-s per MB`],
      ['documents', `${docs.length - failed.length} ready, ${failed.length} failed`],
      ['chunks', `${chunks}`],
      [
        'event-loop delay',
        windows.length === 0
          ? 'n/a'
          : `p50 ${ms(median(windows.map((w) => w.p50)))} · p99 ${ms(Math.max(...windows.map((w) => w.p99)))} · max ${ms(Math.max(...windows.map((w) => w.max)))}`,
      ],
      [
        'writer calls',
        `${totalCalls} (${(totalCalls / Math.max(1, docs.length)).toFixed(1)} per document): ` +
          [...writerCalls].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([op, n]) => `${op} ${n}`).join(', '),
      ],
      ['peak RSS', idleRss === null ? 'n/a (no /proc)' : `${(peakRss / MB).toFixed(0)} MB (idle before uploads: ${(idleRss / MB).toFixed(0)} MB)`],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    console.log('\nragd ingest benchmark');
    console.log('-'.repeat(72));
    for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
    console.log('-'.repeat(72));
    console.log(
      `event-loop delay: over ${windows.length} one-second windows during ingestion, time beyond the 10 ms sampling tick;\n` +
        'p50 is the median of the windows\' medians, p99 the worst window\'s p99, max the largest single delay.',
    );
    for (const e of uploadErrors.slice(0, 5)) console.error(`upload failed: ${e}`);
    for (const d of failed.slice(0, 5)) console.error(`failed: ${d.name}: ${d.error}`);
    return uploadErrors.length + failed.length > 0 ? 1 : 0;
  } finally {
    disarm();
    if (server) {
      await server.stop(15_000).catch(() => server?.child.kill('SIGKILL'));
    }
    for (const fn of cleanup) await fn().catch(() => {});
  }
}

runBench(main);
