/**
 * `npm run bench:large-file`: does one very large log (or CSV export) ingest in flat memory?
 *
 * Writes a generated file to disk (500 MB by default), starts the compiled ragd as a child process
 * on a fresh data directory, uploads the file over HTTP as one multipart stream, and waits for the
 * document to be `ready`. Meanwhile it samples the child's VmRSS every 200 ms, and it reads the
 * child's VmHWM (the kernel's own peak) at the end. It prints the upload time, the time to ready,
 * server CPU-seconds, peak RSS and RSS growth over idle, each stage's time, and how long the
 * index transaction held the SQLite writer.
 *
 * Env: BENCH_LARGE_MB (file size, default 500), BENCH_LARGE_KINDS (log, csv or both, default log),
 * BENCH_TIMEOUT_S (per file, default 3600).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanUpOnSignal, cpuMsOf, envNumber, runBench } from './load.js';
import { call, sleep, spawnServer, tempDir, type SpawnedServer } from '../test/support/server.js';
import { memoryOf, streamUpload } from '../test/support/streamed-upload.js';

const MB = 1024 * 1024;
const RSS_EVERY_MS = 200;

type Kind = 'log' | 'csv';

const KINDS: Record<Kind, { name: string; contentType: string; line: (n: number) => string; query: string }> = {
  log: {
    name: 'server.log',
    contentType: 'text/plain',
    line: (n) =>
      `2026-12-07T03:${String(Math.floor(n / 60) % 60).padStart(2, '0')}:${String(n % 60).padStart(2, '0')}Z ${n % 97 === 0 ? 'WARN' : 'INFO'} ` +
      `http request id=${n} path=/api/items/${(n * 7919) % 100_000} status=${n % 13 === 0 ? 404 : 200} took=${n % 997}ms user=u${n % 1234}`,
    query: 'quokka reactor overheated',
  },
  csv: {
    name: 'orders.csv',
    contentType: 'text/csv',
    line: (n) => (n === 0 ? 'id,city,amount,comment' : `${n},city ${n % 300},${(n * 31) % 10_000},order number ${n} shipped to customer c${n % 4321}`),
    query: 'quokka reactor overheated',
  },
};

/** The marker line in the middle of the file, found by a question at the end. */
const markerOf = (kind: Kind) => (kind === 'log' ? 'ERROR quokka reactor overheated in zone 7' : '999999999,quokka city,1,quokka reactor overheated');


/** Writes about `bytes` of generated lines to `path`, 1 MB at a time; returns the exact size. */
async function writeLines(path: string, bytes: number, kind: Kind): Promise<number> {
  const out = await open(path, 'w');
  const { line } = KINDS[kind];
  let n = 0;
  let written = 0;
  let marked = false;
  try {
    while (written < bytes) {
      let text = '';
      while (text.length < MB) text += `${line(n++)}\n`;
      if (!marked && written >= bytes / 2) {
        text = `${markerOf(kind)}\n${text}`;
        marked = true;
      }
      const piece = Buffer.from(text);
      await out.write(piece);
      written += piece.length;
    }
  } finally {
    await out.close();
  }
  return written;
}

/** The file in 1 MB pieces, read synchronously (the upload's backpressure paces the reads). */
function* filePieces(path: string): Generator<Buffer> {
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const piece = Buffer.allocUnsafe(MB);
      const n = readSync(fd, piece, 0, MB, null);
      if (n === 0) return;
      yield piece.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

/** Sum and count of one histogram series in the Prometheus text, by a label match. */
function histogram(text: string, name: string, labels: string): { sum: number; count: number } {
  const value = (suffix: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}_${suffix}{`) && l.includes(labels));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  return { sum: value('sum'), count: value('count') };
}

async function runOnce(kind: Kind): Promise<number> {
  const targetBytes = envNumber('BENCH_LARGE_MB', 500) * MB;
  const timeoutMs = envNumber('BENCH_TIMEOUT_S', 3600) * 1000;
  const dirs: string[] = [];
  let server: SpawnedServer | null = null;
  const disarm = cleanUpOnSignal(() => server?.child.kill('SIGKILL'), dirs);
  try {
    const fileDir = await tempDir('ragd-bench-large-');
    const dataDir = await tempDir('ragd-bench-data-');
    dirs.push(fileDir, dataDir);
    const { name, contentType, query } = KINDS[kind];
    const path = join(fileDir, name);
    process.stderr.write(`writing a ${targetBytes / MB} MB ${kind} … `);
    const bytes = await writeLines(path, targetBytes, kind);
    process.stderr.write('starting ragd … ');
    server = await spawnServer(
      { RAGD_DATA_DIR: dataDir, RAGD_LOG_LEVEL: 'warn', RAGD_MAX_UPLOAD_BYTES: String(bytes + 64 * MB) },
      { compiled: true },
    );
    const { url } = server;
    const pid = server.child.pid!;
    process.stderr.write(`${url} (pid ${pid})\n`);

    const idle = memoryOf(pid).rss;
    let peak = idle;
    let sampling = true;
    const rssLoop = (async () => {
      while (sampling) {
        peak = Math.max(peak, memoryOf(pid).rss);
        await sleep(RSS_EVERY_MS);
      }
    })();

    const cpuBefore = (await cpuMsOf(pid)) ?? 0;
    const started = Date.now();
    const res = await streamUpload(url, { filename: name, contentType, bytes, pieces: filePieces(path) });
    const uploadS = (Date.now() - started) / 1000;
    if (res.status !== 202) throw new Error(`upload answered ${res.status}: ${res.body}`);
    const uploadPeak = peak;
    const id = (JSON.parse(res.body) as { documents: { id: string }[] }).documents[0]!.id;
    process.stderr.write(`uploaded in ${uploadS.toFixed(1)} s; waiting for ready …\n`);

    let doc: { status: string; chunks: number; error: string | null; updated_at: string };
    for (;;) {
      await sleep(1000);
      const r = await call(`${url}/v1/kbs/default/documents/${id}`);
      doc = r.body as typeof doc;
      if (doc.status === 'ready' || doc.status === 'failed') break;
      if (Date.now() - started > timeoutMs) throw new Error(`not ready after ${timeoutMs / 1000} s: ${JSON.stringify(doc)}`);
    }
    const readyS = (Date.parse(doc.updated_at) - started) / 1000;
    const cpuS = (((await cpuMsOf(pid)) ?? 0) - cpuBefore) / 1000;
    sampling = false;
    await rssLoop;
    const { peak: hwm } = memoryOf(pid);

    // The document is ready inside the index transaction; its job settles just after.
    let metrics = '';
    for (let i = 0; i < 50; i++) {
      metrics = await (await fetch(`${url}/metrics`)).text();
      if (histogram(metrics, 'ragd_pipeline_job_duration_seconds', 'stage="index",outcome="succeeded"').count > 0) break;
      await sleep(200);
    }
    const stages = ['parse', 'chunk', 'embed', 'index']
      .map((s) => `${s} ${histogram(metrics, 'ragd_pipeline_job_duration_seconds', `stage="${s}",outcome="succeeded"`).sum.toFixed(1)} s`)
      .join(' · ');
    const commit = histogram(metrics, 'ragd_db_call_duration_seconds', 'op="commitIndex",outcome="ok"');
    const q = await call(`${url}/v1/kbs/default/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, mode: 'lexical', only_context: true, top_k: 1 }),
    });
    const found = JSON.stringify(q.body).includes('quokka');

    const rows: [string, string][] = [
      ['file', `${name}, ${(bytes / MB).toFixed(0)} MB`],
      ['upload', `${uploadS.toFixed(1)} s (${(bytes / MB / uploadS).toFixed(0)} MB/s); RSS peak during it +${((uploadPeak - idle) / MB).toFixed(0)} MB`],
      ['to ready', `${readyS.toFixed(1)} s from the upload's start (${(bytes / MB / readyS).toFixed(2)} MB/s); ${doc.status}, ${doc.chunks} chunks${doc.error ? `, ${doc.error}` : ''}`],
      ['stages', stages],
      ['index commit', `${commit.sum.toFixed(1)} s holding the writer in ${commit.count} call(s)`],
      ['server CPU', `${cpuS.toFixed(1)} CPU-s · ${(cpuS / (bytes / MB)).toFixed(3)} CPU-s per MB`],
      ['RSS', `idle ${(idle / MB).toFixed(0)} MB · sampled peak ${(peak / MB).toFixed(0)} MB (growth ${((peak - idle) / MB).toFixed(0)} MB) · VmHWM ${(hwm / MB).toFixed(0)} MB`],
      ['marker found', found ? 'yes' : `no: ${JSON.stringify(q.body).slice(0, 300)}`],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    console.log(`\nragd large-file benchmark (${kind})`);
    console.log('-'.repeat(72));
    for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
    console.log('-'.repeat(72));
    return doc.status === 'ready' && found ? 0 : 1;
  } finally {
    disarm();
    if (server) await server.stop(15_000).catch(() => server?.child.kill('SIGKILL'));
    for (const d of dirs) await rm(d, { recursive: true, force: true }).catch(() => {});
  }
}

async function main(): Promise<number> {
  const kinds = (process.env.BENCH_LARGE_KINDS ?? 'log').split(',').map((k) => k.trim()) as Kind[];
  for (const k of kinds) if (!(k in KINDS)) throw new Error(`BENCH_LARGE_KINDS: unknown kind "${k}" (log, csv)`);
  let code = 0;
  for (const kind of kinds) code = Math.max(code, await runOnce(kind));
  return code;
}

runBench(main);
