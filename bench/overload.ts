/**
 * `npm run bench:overload`: does ragd stay upright past its capacity?
 *
 * ragd runs as a child process with its query bound at C (RAGD_MAX_CONCURRENT_QUERIES) in front
 * of a stand-in model answering in L ms, so its capacity is about C / L queries per second.
 * Open-loop load (a fixed arrival rate, as real users arrive whether or not the server keeps up)
 * runs for BENCH_SECONDS (default 30) at capacity, then at twice capacity. Printed side by side:
 * the admitted requests' p50/p99 and throughput, the rejection rate and how fast a rejection
 * comes, and the server's RSS. With backpressure the admitted p99 at 2× stays near the p99 at
 * capacity and about half the requests are refused at once; without it, every latency grows for
 * as long as the overload lasts.
 *
 * Env: BENCH_SECONDS (30), BENCH_CONCURRENCY (C, 16), BENCH_LATENCY_MS (L, 200),
 * BENCH_QUEUED (RAGD_MAX_QUEUED_QUERIES, 0).
 */
import { startFakeOpenAI } from '../test/support/fake-openai.js';
import { spawnServer, uploadText, waitReady } from '../test/support/server.js';
import { Client, percentile, type Reply, rssOf } from './load.js';
import { Questions } from './questions.js';

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const SECONDS = env('BENCH_SECONDS', 30);
const C = env('BENCH_CONCURRENCY', 16);
const L = env('BENCH_LATENCY_MS', 200);
const QUEUED = env('BENCH_QUEUED', 0);
/** How long the stragglers of a phase may take before the phase is cut off. */
const DRAIN_MS = 30_000;
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

function report(base: Phase, over: Phase): void {
  const rows: [string, string, string, string][] = [];
  const add = (name: string, a: string, b: string, r: string) => rows.push([name, a, b, r]);
  add('offered load', `${base.rate.toFixed(0)} req/s`, `${over.rate.toFixed(0)} req/s`, ratio(over.rate, base.rate));
  add('admitted p50', ms(p(base.admitted, 50)), ms(p(over.admitted, 50)), ratio(p(over.admitted, 50), p(base.admitted, 50)));
  add('admitted p99', ms(p(base.admitted, 99)), ms(p(over.admitted, 99)), ratio(p(over.admitted, 99), p(base.admitted, 99)));
  const tput = (ph: Phase) => ph.admitted.length / SECONDS;
  add('admitted throughput', `${tput(base).toFixed(1)} req/s`, `${tput(over).toFixed(1)} req/s`, ratio(tput(over), tput(base)));
  add('rejection rate (503)', pct(base.rejected.length / base.sent), pct(over.rejected.length / over.sent), '');
  add('rejection p99', ms(p(base.rejected, 99)), ms(p(over.rejected, 99)), '');
  add('failed (not 200/503)', String(base.failed), String(over.failed), '');
  add('server RSS at end', `${base.rssMb.toFixed(0)} MB`, `${over.rssMb.toFixed(0)} MB`, ratio(over.rssMb, base.rssMb));
  const widths = [0, 1, 2, 3].map((i) => Math.max(...[['', 'at capacity', '2× capacity', 'ratio'], ...rows].map((r) => r[i]!.length)));
  const line = (r: string[]) => console.log(`  ${r.map((c, i) => c.padEnd(widths[i]!)).join('   ')}`);
  line(['', 'at capacity', '2× capacity', 'ratio']);
  for (const r of rows) line(r);
}

async function main(): Promise<void> {
  const fake = await startFakeOpenAI({ latencyMs: L, answer: 'Otters hold hands [1].' });
  const server = await spawnServer({
    RAGD_LLM_BASE_URL: fake.url,
    RAGD_LLM_MODEL: 'fake-chat',
    // The model is not the limit here: the admission bound is.
    RAGD_LLM_CONCURRENCY: '10000',
    RAGD_LLM_RPM: '100000000',
    RAGD_MAX_CONCURRENT_QUERIES: String(C),
    RAGD_MAX_QUEUED_QUERIES: String(QUEUED),
    RAGD_LOG_LEVEL: 'warn',
  });
  const client = new Client(server.url, 4096);
  try {
    const texts = ['Sea otters hold hands while sleeping so they do not drift apart.', 'Otters use rocks as tools to open shellfish.'];
    const ids = [];
    for (const [i, text] of texts.entries()) ids.push((await uploadText(server.url, 'default', `otters-${i}.txt`, text)).id);
    await waitReady(server.url, 'default', ids);
    const questions = new Questions();
    questions.learn(texts);
    const ask = () => client.post('/v1/kbs/default/query', { query: questions.next() });

    // Measured, not assumed: one query's latency through ragd sets the capacity C / latency.
    const singles: number[] = [];
    for (let i = 0; i < 10; i++) singles.push((await ask()).ms);
    const capacity = (C * 1000) / percentile(singles, 50);
    console.log(
      `\nbench:overload: query bound C=${C} (queue ${QUEUED}), model latency ${L} ms, one query ${ms(percentile(singles, 50))}` +
        ` → capacity ≈ ${capacity.toFixed(0)} req/s; ${SECONDS} s per phase, open loop\n`,
    );
    const pid = server.child.pid!;
    const base = await openLoop(capacity, ask, pid);
    const over = await openLoop(2 * capacity, ask, pid);
    report(base, over);
  } finally {
    client.close();
    await server.stop();
    await server.cleanup();
    await fake.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
