/**
 * `npm run bench:cluster`: does splitting the roles keep questions fast while bulk ingestion runs?
 *
 * A cluster on this machine (test/support/cluster.ts): a private PostgreSQL and Redis, two API
 * nodes (`ragd serve`, compiled, as `npm start` runs it), one worker and later a second one
 * (`ragd worker`), the stand-in model server (chat at 1 s). Printed, all measured in this one run:
 *
 *  (1) query p99 on the API nodes while one worker ingests BENCH_MB (default 50) MB ÷ idle, at a
 *      fixed open-loop rate (BENCH_QPS questions/s, default 20, spread over both nodes);
 *  (2) ingest MB/s with two workers ÷ one (the same volume again, into another KB), and the p99
 *      ratio during that second ingest;
 *  (3) 100 concurrent uncached questions ÷ one, with a 1 s model, spread over both nodes;
 *  (4) peak RSS of an API node and of a worker over the whole run.
 *
 * Env: BENCH_MB, BENCH_QPS, BENCH_IDLE_S (idle window, default 20), BENCH_TIMEOUT_S (per ingest,
 * default 900). The uploader is a separate process at the lowest priority (bench/bulk-ingest.ts).
 * BENCH_VIA_NGINX=1 puts Debian's nginx (deploy/nginx.conf.template rendered for the two nodes,
 * test/support/nginx.ts) in front: every question and upload then goes through it, as deployed.
 */
import { startCluster } from '../test/support/cluster.js';
import { startFakeOpenAI } from '../test/support/fake-openai.js';
import { startNginx } from '../test/support/nginx.js';
import { bulkIngest, type LoadStats, seedQueryKb } from './bulk-ingest.js';
import { Client, openLoop, percentile, type Reply, rssSampler, type Until } from './load.js';
import { Questions } from './questions.js';

const MB = 1024 * 1024;
const num = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const BENCH_MB = num('BENCH_MB', 50);
const QPS = num('BENCH_QPS', 20);
const IDLE_S = num('BENCH_IDLE_S', 20);
const TIMEOUT_S = num('BENCH_TIMEOUT_S', 900);
const VIA_NGINX = process.env.BENCH_VIA_NGINX === '1';
const PIPELINE_WORKER = ['--stages', 'parse,ocr,chunk,embed,index'];
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

/** Open-loop only_context questions at QPS, alternating between the entry points (the API nodes, or nginx alone). */
function queryWindow(clients: Client[], questions: Questions) {
  return async (until: Until): Promise<LoadStats> => {
    const r = await openLoop(QPS, until, (i) => clients[i % clients.length]!.post('/v1/kbs/bench/query', { query: questions.next(), only_context: true }));
    return { p50: percentile(r.latencies, 50), p99: percentile(r.latencies, 99), n: r.latencies.length, errors: r.errors, latencies: r.latencies };
  };
}

/** Ingests BENCH_MB into `kb` through node A while the query load runs; MB/s and the query stats. */
async function ingestUnderLoad(clients: Client[], url: string, kb: string, load: (until: Until) => Promise<LoadStats>) {
  await clients[0]!.post('/v1/kbs', { id: kb });
  const ingest = await bulkIngest(clients[0]!, url, kb, BENCH_MB * MB, TIMEOUT_S);
  const started = performance.now();
  const during = await load(ingest.done);
  await ingest.finished;
  const seconds = (performance.now() - started) / 1000;
  return { mbPerS: BENCH_MB / seconds, seconds, during };
}

async function main(): Promise<void> {
  const fake = await startFakeOpenAI({ latencyMs: 1000, embeddings: { latencyMs: 0 } });
  console.log(`bench:cluster — 2 API nodes${VIA_NGINX ? ' behind nginx' : ''}, 1 then 2 workers, private PostgreSQL + Redis; ${BENCH_MB} MB per ingest, ${QPS} questions/s`);
  const cluster = await startCluster({
    apis: 2,
    // Pipeline workers, as deployed beside query-job workers: bulk work only (they yield the CPU
    // to the API nodes they share this machine with; the bench submits no /retrieve jobs).
    workers: [PIPELINE_WORKER],
    compiled: true,
    env: {
      RAGD_LOG_LEVEL: 'warn',
      RAGD_LLM_BASE_URL: fake.url,
      RAGD_LLM_MODEL: 'fake-chat',
      // High caps, so (3) measures ragd rather than a provider limit.
      RAGD_LLM_CONCURRENCY: '1000',
      RAGD_LLM_RPM: '1000000',
      RAGD_MAX_CONCURRENT_QUERIES: '4096',
      RAGD_MAX_CONNECTIONS_PER_ADDRESS: '4096',
    },
  });
  const [a, b] = cluster.apis as [(typeof cluster.apis)[0], (typeof cluster.apis)[0]];
  // Through nginx, one entry point that spreads the requests (least_conn); else alternate by hand.
  const nginx = VIA_NGINX
    ? await startNginx([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]).catch(async (err: unknown) => {
        await cluster.close();
        await fake.close();
        throw err;
      })
    : null;
  const entry = nginx ? [nginx.url] : [a.url, b.url];
  const clients = entry.map((url) => new Client(url, 1024));
  const apiRss = rssSampler(a.pid()!, 100);
  const workerRss = [rssSampler(cluster.workers[0]!.pid()!, 100)];
  const questions = new Questions();
  try {
    await seedQueryKb(clients[0]!, 'bench', questions);
    const load = queryWindow(clients, questions);
    await load(3000); // warm-up: JIT, pools, caches of both nodes

    const idle = await load(IDLE_S * 1000);
    console.log(`\n(1) query p99, open loop ${QPS}/s over both API nodes`);
    console.log(`  idle: p50 ${fmt(idle.p50)} p99 ${fmt(idle.p99)} (${idle.n} answers, ${idle.errors} errors)`);
    const one = await ingestUnderLoad(clients, entry[0]!, 'bulk-1', load);
    const d1 = one.during;
    console.log(`  while 1 worker ingests ${BENCH_MB} MB: p50 ${fmt(d1.p50)} p99 ${fmt(d1.p99)} (${d1.n} answers, ${d1.errors} errors)`);
    console.log(`  ratio p99 ingesting ÷ idle: ${(d1.p99 / idle.p99).toFixed(2)} (goal ≤ 1.5)`);

    console.log('\n(2) ingest throughput, one worker vs two');
    const second = await cluster.spawn(['worker', ...PIPELINE_WORKER], { name: 'worker-2' });
    workerRss.push(rssSampler(second.pid()!, 100));
    const two = await ingestUnderLoad(clients, entry[0]!, 'bulk-2', load);
    console.log(`  1 worker: ${one.mbPerS.toFixed(2)} MB/s (${one.seconds.toFixed(1)} s); 2 workers: ${two.mbPerS.toFixed(2)} MB/s (${two.seconds.toFixed(1)} s)`);
    console.log(`  ratio 2 workers ÷ 1: ${(two.mbPerS / one.mbPerS).toFixed(2)}; query p99 during it ${fmt(two.during.p99)}, ÷ idle ${(two.during.p99 / idle.p99).toFixed(2)}`);

    console.log('\n(3) 100 concurrent uncached questions ÷ one, model latency 1 s, over both nodes');
    const ask = (i: number): Promise<Reply> => clients[i % clients.length]!.post('/v1/kbs/bench/query', { query: questions.next() });
    const singles: number[] = [];
    for (let i = 0; i < 3; i++) singles.push((await ask(i)).ms);
    const single = percentile(singles, 50);
    const t0 = performance.now();
    const burst = await Promise.all(Array.from({ length: 100 }, (_, i) => ask(i)));
    const wall = performance.now() - t0;
    const ok = burst.filter((r) => r.status === 200).length;
    console.log(`  one: ${fmt(single)}; 100 at once: ${fmt(wall)} (${ok}/100 ok); ratio ${(wall / single).toFixed(2)} (ideal 1.0)`);

    const apiPeak = await apiRss.stop();
    const workerPeaks = await Promise.all(workerRss.map((s) => s.stop()));
    console.log('\n(4) peak RSS over the run');
    console.log(`  API node: ${(apiPeak / MB).toFixed(0)} MB; worker(s): ${workerPeaks.map((p) => `${(p / MB).toFixed(0)} MB`).join(', ')}`);
  } catch (err) {
    console.error(cluster.logs(30));
    throw err;
  } finally {
    await apiRss.stop();
    await Promise.all(workerRss.map((s) => s.stop()));
    for (const c of clients) c.close();
    await nginx?.close();
    await cluster.close();
    await fake.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
