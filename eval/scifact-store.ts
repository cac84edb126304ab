/**
 * `npm run eval:scifact-store [-- --split train|test] [--stores sqlite,postgres] [--limit N]`
 *
 * Interim measurement of lexical retrieval through the Store port, until the cluster server is
 * wired (issue 18): BEIR SciFact goes through the same parse and chunk steps as the pipeline
 * (the text parser, the chunker at RAGD_CHUNK_TOKENS/RAGD_CHUNK_OVERLAP), is committed with
 * `commitIndex` into each store, and the split's queries run through `searchLexical` (top 10,
 * counted per document, as eval/scifact.ts does over HTTP). Comparing the stores' figures shows
 * the PostgreSQL BM25 ranks as FTS5 does.
 *
 * The PostgreSQL store gets a database of its own on RAGD_DATABASE_URL's server (default: the
 * local test server), dropped afterwards.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresStore } from '../src/adapters/cluster/postgres/postgres-store.js';
import { chunkDocument } from '../src/chunking/chunker.js';
import { loadConfig } from '../src/config/config.js';
import { parseBytes } from '../src/parsing/index.js';
import type { Store } from '../src/ports/store.js';
import { tempDatabase } from '../test/support/postgres.js';
import { tempSqliteStore } from '../test/support/sqlite.js';
import { evaluate } from './ir-metrics.js';
import { arg, dataSet, pool } from './beir-data.js';

const { jsonl, readQrels } = dataSet('scifact');

const DIM = 8;
const CONCURRENCY = 8;

const config = loadConfig(process.env);
const scope = { tenantId: 'default', kbId: 'default' };

async function ingest(store: Store, work: string): Promise<number> {
  const corpus = jsonl<{ _id: string; title: string; text: string }>('corpus.jsonl');
  const started = performance.now();
  await pool(corpus, CONCURRENCY, async (d) => {
    const name = (d.title.trim() || `SciFact ${d._id}`).slice(0, 500);
    const text = d.text.trim() || name;
    const { document } = await store.createDocument({
      scope, id: `doc_${d._id}`, taskId: `task_${d._id}`, name, type: 'text', contentHash: `scifact-${d._id}`,
      bytes: Buffer.byteLength(text), blobKey: d._id, metadata: { id: d._id },
    });
    const parsed = await parseBytes('text', new TextEncoder().encode(text), config.parse);
    const drafts = chunkDocument(parsed, { chunkTokens: config.chunkTokens, overlapTokens: config.chunkOverlap });
    const chunksPath = join(work, `${d._id}.json`);
    await writeFile(chunksPath, JSON.stringify(drafts));
    await writeFile(`${chunksPath}.f32`, Buffer.alloc(drafts.length * DIM * 4));
    await store.commitIndex({ scope, documentId: document.id, taskId: document.task_id, chunksPath, vectorsPath: `${chunksPath}.f32`, embedDim: DIM });
  });
  return (performance.now() - started) / 1000;
}

async function measure(name: string, store: Store, work: string, split: string): Promise<void> {
  const seconds = await ingest(store, work);
  const qrels = readQrels(split === 'test' ? 'qrels-test.tsv' : 'qrels-train.tsv');
  let queries = jsonl<{ _id: string; text: string }>(split === 'test' ? 'queries.jsonl' : 'queries-train.jsonl').filter((q) => qrels.has(q._id));
  const limit = Number(arg('limit') ?? 0);
  if (limit > 0) queries = queries.slice(0, limit);
  const latencies: number[] = [];
  const runs = await pool(queries, CONCURRENCY, async (q) => {
    const t = performance.now();
    const hits = await store.searchLexical(scope, q.text, 10);
    latencies.push(performance.now() - t);
    return { id: q._id, ranked: [...new Set(hits.map((h) => h.documentId.slice('doc_'.length)))] };
  });
  const m = evaluate(runs, qrels, 10);
  latencies.sort((a, b) => a - b);
  const p50 = latencies[Math.floor(latencies.length / 2)] ?? 0;
  console.log(`${name.padEnd(10)} lexical  ${m.ndcg.toFixed(4).padStart(7)}  ${m.recall.toFixed(4).padStart(9)}  ${p50.toFixed(1).padStart(6)}  ${seconds.toFixed(1).padStart(9)}`);
}

async function main(): Promise<void> {
  const split = arg('split') ?? 'test';
  const stores = (arg('stores') ?? 'sqlite,postgres').split(',');
  const work = await mkdtemp(join(tmpdir(), 'ragd-scifact-store-'));
  console.log(`\nBEIR SciFact, ${split} split, through the Store port (chunk_tokens ${config.chunkTokens})\n`);
  console.log('store      mode     nDCG@10  recall@10  p50 ms  ingest s');
  try {
    if (stores.includes('sqlite')) {
      const temp = await tempSqliteStore('ragd-scifact-sqlite-', DIM);
      try {
        await measure('sqlite', temp.store, work, split);
      } finally {
        await temp.remove();
      }
    }
    if (stores.includes('postgres')) {
      if (config.databaseUrl) process.env.RAGD_TEST_PG_URL ??= config.databaseUrl;
      const db = await tempDatabase(CONCURRENCY);
      try {
        const store = new PostgresStore(db.pool, { defaultEmbedder: `hash:${DIM}`, embedDim: DIM, maxAttempts: 3 });
        await store.init();
        await measure('postgres', store, work, split);
      } finally {
        await db.drop();
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
