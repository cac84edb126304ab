/**
 * `npm run bench:overload`: does ragd stay upright past its capacity?
 *
 * ragd runs as a child process in front of a stand-in model that answers in L ms and takes C
 * calls at once (RAGD_LLM_CONCURRENCY, like a provider quota), with its query bound at the same
 * C (RAGD_MAX_CONCURRENT_QUERIES): capacity is about C / L queries per second. Open-loop load
 * (a fixed arrival rate: users keep arriving whether or not the server keeps up) runs for
 * BENCH_SECONDS (default 30) at capacity, then at twice capacity, then at twice capacity against
 * a ragd with the admission bound lifted. Printed side by side: the admitted requests' p50/p99
 * and throughput, the rejection rate and how fast a rejection comes, and the server's RSS. With
 * the bound, the admitted p99 at 2× stays near the p99 at capacity and about half the requests
 * are refused at once; without it, the excess queues at the model and every latency grows for
 * as long as the overload lasts.
 *
 * Env: BENCH_SECONDS (30), BENCH_CONCURRENCY (C, 16), BENCH_LATENCY_MS (L, 200),
 * BENCH_QUEUED (RAGD_MAX_QUEUED_QUERIES, 0).
 */
import { startFakeOpenAI } from '../test/support/fake-openai.js';
import { type SpawnedServer, spawnServer, uploadText, waitReady } from '../test/support/server.js';
import { Client, percentile, type Reply, rssOf } from './load.js';
import { Questions } from './questions.js';

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const SECONDS = env('BENCH_SECONDS', 30);
const C = env('BENCH_CONCURRENCY', 16);
const L = env('BENCH_LATENCY_MS', 200);
const QUEUED = env('BENCH_QUEUED', 0);
/** How long the stragglers of a phase may take before they are counted as unfinished. */
const DRAIN_MS = (SECONDS + 10) * 1000;
const MB = 1024 * 1024;

interface Phase {
  rate: number;
  sent: number;
  admitted: number[];
  rejected: number[];
  failed: number;
  elapsedS: number;
  rssMb: number;
}

/** Sends `rate` requests per second, evenly spaced, for SECONDS; waits for every answer. */
async function openLoop(rate: number, send: () => Promise<Reply>, pid: number): Promise<Phase> {
  const phase: Phase = { rate, sent: 0, admitted: [], rejected: [], failed: 0, elapsedS: 0, rssMb: 0 };
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  const total = Math.round(rate * SECONDS);
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    phase.sent++;
    const p: Promise<void> = send().then(
      (r) => {
        if (r.status === 200) phase.admitted.push(r.ms);
        else if (r.status === 503 && JSON.parse(r.body).error?.code === 'overloaded') phase.rejected.push(r.ms);
        else phase.failed++;
      },
      () => void phase.failed++,
    );
    const tracked = p.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  }
  phase.rssMb = ((await rssOf(pid)) ?? 0) / MB;
  await Promise.race([Promise.all(inFlight), new Promise((r) => setTimeout(r, DRAIN_MS).unref())]);
  phase.failed += inFlight.size;
  phase.elapsedS = (performance.now() - started) / 1000;
  return phase;
}

const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : '—');
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) && Number.isFinite(b) ? (a / b).toFixed(2) : '—');
const p = (xs: number[], q: number) => (xs.length > 0 ? percentile(xs, q) : Number.NaN);

function report(base: Phase, over: Phase, unbounded: Phase): void {
  const rows: string[][] = [['', 'at capacity', '2× capacity', 'ratio', '2×, no admission bound']];
  const add = (name: string, f: (ph: Phase) => string, r = '') => rows.push([name, f(base), f(over), r, f(unbounded)]);
  add('offered load', (ph) => `${ph.rate.toFixed(0)} req/s`, ratio(over.rate, base.rate));
  add('admitted p50', (ph) => ms(p(ph.admitted, 50)), ratio(p(over.admitted, 50), p(base.admitted, 50)));
  add('admitted p99', (ph) => ms(p(ph.admitted, 99)), ratio(p(over.admitted, 99), p(base.admitted, 99)));
  const tput = (ph: Phase) => ph.admitted.length / ph.elapsedS;
  add('admitted throughput', (ph) => `${tput(ph).toFixed(1)} req/s`, ratio(tput(over), tput(base)));
  add('rejection rate (503)', (ph) => pct(ph.rejected.length / ph.sent));
  add('rejection p99', (ph) => ms(p(ph.rejected, 99)));
  add('failed or unfinished', (ph) => String(ph.failed));
  add('server RSS at end of load', (ph) => `${ph.rssMb.toFixed(0)} MB`, ratio(over.rssMb, base.rssMb));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(`  ${r.map((c, i) => c.padEnd(widths[i]!)).join('   ')}`);
}

/** ragd whose real limit is the model's: C calls at once (RAGD_LLM_CONCURRENCY), like a provider quota. */
async function startRagd(modelUrl: string, admission: Record<string, string>): Promise<SpawnedServer> {
  const server = await spawnServer({
    RAGD_LLM_BASE_URL: modelUrl,
    RAGD_LLM_MODEL: 'fake-chat',
    RAGD_LLM_CONCURRENCY: String(C),
    RAGD_LLM_RPM: '100000000',
    RAGD_LOG_LEVEL: 'warn',
    ...admission,
  }, { compiled: true });
  const ids = [];
  for (const [i, text] of TEXTS.entries()) ids.push((await uploadText(server.url, 'default', `otters-${i}.txt`, text)).id);
  await waitReady(server.url, 'default', ids);
  return server;
}

/** Runs `phases` against a fresh ragd with the given admission settings, then stops it. */
async function withRagd<T>(modelUrl: string, admission: Record<string, string>, phases: (ask: () => Promise<Reply>, pid: number) => Promise<T>): Promise<T> {
  const server = await startRagd(modelUrl, admission);
  const client = new Client(server.url, 8192);
  const questions = new Questions();
  questions.learn(TEXTS);
  try {
    return await phases(() => client.post('/v1/kbs/default/query', { query: questions.next() }), server.child.pid!);
  } finally {
    client.close();
    await server.stop();
    await server.cleanup();
  }
}

const TEXTS = ['Sea otters hold hands while sleeping so they do not drift apart.', 'Otters use rocks as tools to open shellfish.'];

async function main(): Promise<void> {
  const fake = await startFakeOpenAI({ latencyMs: L, answer: 'Otters hold hands [1].' });
  try {
    // One tenant: its own bound (half the process's by default) is lifted to measure the process's.
    const bounded = { RAGD_MAX_CONCURRENT_QUERIES: String(C), RAGD_MAX_QUEUED_QUERIES: String(QUEUED), RAGD_TENANT_MAX_CONCURRENT_QUERIES: String(10 * C) };
    const [base, over] = await withRagd(fake.url, bounded, async (ask, pid) => {
      // Measured, not assumed: one query's latency through ragd sets the capacity C / latency.
      const singles: number[] = [];
      for (let i = 0; i < 10; i++) singles.push((await ask()).ms);
      capacity = (C * 1000) / percentile(singles, 50);
      console.log(
        `\nbench:overload: model limit and query bound C=${C} (queue ${QUEUED}), model latency ${L} ms, one query ${ms(percentile(singles, 50))}` +
          ` → capacity ≈ ${capacity.toFixed(0)} req/s; ${SECONDS} s per phase, open loop\n`,
      );
      return [await openLoop(capacity, ask, pid), await openLoop(2 * capacity, ask, pid)] as const;
    });
    // The same overload with the admission bound lifted: the excess queues at the model instead.
    const lifted = { RAGD_MAX_CONCURRENT_QUERIES: '1000000', RAGD_MAX_POOL_QUEUE: '1000000' };
    const unbounded = await withRagd(fake.url, lifted, (ask, pid) => openLoop(2 * capacity, ask, pid));
    report(base, over, unbounded);
  } finally {
    await fake.close();
  }
}

let capacity = 0;

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
