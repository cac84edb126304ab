/**
 * `node --import tsx eval/beir.ts <set> [--split train|test] [--limit N] [--modes lexical,hybrid] [--data-dir DIR]`
 * (`npm run eval:scifact`, `npm run eval:stard-zh`); `--workers N` in cluster mode
 *
 * Retrieval quality through ragd's own HTTP pipeline: starts the server in-process on a temp data
 * dir, uploads a BEIR-layout set from ../shared/eval/<set> (one document per record, the title as
 * its name), waits until every document is ready, then runs the split's queries with only_context
 * and top_k 10 and prints nDCG@10, recall@10 and MRR@10 per mode, at the document level. Tune on
 * `--split train` only.
 *
 * With `--data-dir DIR` the data directory is kept, and a later run with the same DIR skips the
 * upload (the corpus is already there), which makes query-time experiments quick.
 *
 * Cluster mode: with RAGD_DATABASE_URL and RAGD_REDIS_URL set, the in-process server is a node of
 * that cluster running every role (`ragd serve --worker`), so the table measures the cluster's
 * store (BM25 in PostgreSQL) through the same HTTP path; `--workers N` adds N `ragd worker`
 * processes beside it. The KB lives in that database: a later run against the same database skips
 * the upload, as with `--data-dir`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { ALL_ROLES } from '../src/app/runtime.js';
import { startServer } from '../src/app/server.js';
import { loadConfig } from '../src/config/config.js';
import { type RagdProcess, spawnRagd } from '../test/support/cluster.js';
import { arg, dataSet, pool } from './beir-data.js';
import { evaluate } from './ir-metrics.js';

const SET = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : 'scifact';
const { jsonl, readQrels } = dataSet(SET);
const KB = SET;
const UPLOAD_CONCURRENCY = 8;
const QUERY_CONCURRENCY = 8;

async function post(url: string, body: unknown): Promise<any> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = await res.json();
    if (res.ok) return json;
    // A full ingestion backlog (a large set uploads faster than it indexes) says when to come back.
    const retryAfter = Number(res.headers.get('retry-after'));
    if ((res.status === 503 || res.status === 429) && retryAfter > 0 && attempt < 2000) {
      await new Promise((r) => setTimeout(r, retryAfter * 1000));
      continue;
    }
    if (attempt >= 3 || res.status < 500) throw new Error(`POST ${url}: ${res.status} ${JSON.stringify(json)}`);
    await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
  }
}

async function listAll(url: string): Promise<{ id: string; status: string; metadata: { id?: string } }[]> {
  const all: { id: string; status: string; metadata: { id?: string } }[] = [];
  let cursor: string | null = null;
  do {
    const page: any = await (await fetch(`${url}/v1/kbs/${KB}/documents?limit=1000${cursor ? `&cursor=${cursor}` : ''}`)).json();
    all.push(...page.documents);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

/** Until no document of the KB is pending (also on a rerun: a cluster resumes an interrupted ingest). */
async function waitIndexed(url: string): Promise<void> {
  for (;;) {
    const r = await post(`${url}/v1/kbs/${KB}/query`, { query: 'status', mode: 'lexical', top_k: 1, only_context: true });
    if (r.pending_documents === 0) return;
    process.stderr.write(`  ${r.pending_documents} documents still indexing\n`);
    await new Promise((res) => setTimeout(res, 3000));
  }
}

async function ingest(url: string): Promise<void> {
  const corpus = jsonl<{ _id: string; title: string; text: string }>('corpus.jsonl');
  const started = performance.now();
  let done = 0;
  await pool(corpus, UPLOAD_CONCURRENCY, async (d) => {
    const name = (d.title.trim() || `${SET} ${d._id}`).slice(0, 500);
    await post(`${url}/v1/kbs/${KB}/documents`, { name, text: d.text.trim() || name, metadata: { id: d._id } });
    if (++done % 1000 === 0) process.stderr.write(`  uploaded ${done}/${corpus.length}\n`);
  });
  await waitIndexed(url);
  process.stderr.write(`ingested ${corpus.length} documents in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}

async function main(): Promise<void> {
  const split = arg('split') ?? 'test';
  if (split !== 'train' && split !== 'test') throw new Error('--split must be train or test');
  const modes = (arg('modes') ?? 'lexical,hybrid').split(',');
  const keepDir = arg('data-dir');
  const dataDir = keepDir ? resolve(keepDir) : await mkdtemp(join(tmpdir(), `ragd-${SET}-`));
  const config = loadConfig({ ...process.env, RAGD_PORT: '0', RAGD_HOST: '127.0.0.1', RAGD_DATA_DIR: dataDir });
  // Every role in this one process: with the cluster URLs set it is `ragd serve --worker` on
  // PostgreSQL and Redis, so the same table measures the cluster adapters.
  const server = await startServer(config, pino({ level: process.env.RAGD_LOG_LEVEL ?? 'warn' }, pino.destination(2)), { roles: ALL_ROLES });
  const url = server.url;
  const workers: RagdProcess[] = [];
  try {
    if (config.databaseUrl && config.redisUrl) {
      // More workers beside this process's own, each a separate process as deployed.
      const count = Number(arg('workers') ?? 0);
      for (let i = 0; i < count; i++) workers.push(await spawnRagd(['worker'], {}, { name: `eval-worker-${i + 1}`, logDir: dataDir }));
      if (count > 0) process.stderr.write(`cluster mode: ${count} more worker process(es), logs in ${dataDir}\n`);
    }
    const kbs: any = await (await fetch(`${url}/v1/kbs`)).json();
    if (!kbs.kbs.some((k: { id: string }) => k.id === KB)) {
      await post(`${url}/v1/kbs`, { id: KB });
      await ingest(url);
    } else {
      await waitIndexed(url);
    }
    const docs = await listAll(url);
    const failed = docs.filter((d) => d.status !== 'ready');
    if (failed.length > 0) process.stderr.write(`warning: ${failed.length} documents are not ready\n`);
    const corpusId = new Map(docs.map((d) => [d.id, String(d.metadata.id)]));

    const qrels = readQrels(split === 'test' ? 'qrels-test.tsv' : 'qrels-train.tsv');
    let queries = jsonl<{ _id: string; text: string }>(split === 'test' ? 'queries.jsonl' : 'queries-train.jsonl').filter((q) => qrels.has(q._id));
    const limit = Number(arg('limit') ?? 0);
    if (limit > 0) queries = queries.slice(0, limit);

    console.log(`\n${SET}, ${split} split: ${queries.length} queries, ${docs.length} documents (chunk_tokens ${config.chunkTokens})\n`);
    console.log('mode      nDCG@10  recall@10  MRR@10  p50 ms');
    for (const mode of modes) {
      const latencies: number[] = [];
      const runs = await pool(queries, QUERY_CONCURRENCY, async (q) => {
        const t = performance.now();
        const r = await post(`${url}/v1/kbs/${KB}/query`, { query: q.text, mode, top_k: 10, only_context: true });
        latencies.push(performance.now() - t);
        // Document level: the first (best-ranked) chunk of each document counts, later ones are dropped.
        const ranked = [...new Set((r.citations as { document_id: string }[]).map((c) => corpusId.get(c.document_id) ?? c.document_id))];
        return { id: q._id, ranked };
      });
      const m = evaluate(runs, qrels, 10);
      latencies.sort((a, b) => a - b);
      const p50 = latencies[Math.floor(latencies.length / 2)] ?? 0;
      console.log(
        `${mode.padEnd(9)} ${m.ndcg.toFixed(4).padStart(7)}  ${m.recall.toFixed(4).padStart(9)}  ${m.mrr.toFixed(4).padStart(6)}  ${p50.toFixed(1).padStart(6)}`,
      );
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
    await server.close();
    if (!keepDir) await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
