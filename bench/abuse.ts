/**
 * `npm run bench:abuse`: the High items of issue 16 replayed by a hostile tenant ("mallory"),
 * each in a bounded loop, while another tenant ("victim") keeps calling /healthz and asking
 * uncached questions. Prints the victim's /healthz and query p50/p99 during each phase, next to
 * idle, and what the attack achieved.
 *
 *   idle      nothing else running
 *   metadata  (1) 40 uploads with 64 KB of metadata, then 20 × list ?limit=1000
 *   encoded   (2) 300 requests through /%761/… paths with requests_per_minute=5
 *   files     (3) an 11 MB nested-HTML file, a DOCX whose XML inflates to BENCH_DOCX_MB (default
 *             80) MiB, and a 1 MB text with no line break; then one ordinary victim document
 *   aborts    (4) BENCH_ABORTS (default 2000) queries aborted after 40 ms, 200 at a time, sent
 *             from a child process (bench/abort-flood.ts) so the probes here keep their own loop
 *
 * A child `ragd serve` (compiled, as `npm start` runs it) on a fresh data directory.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { makeBalloonDocx } from '../test/support/fixtures.js';
import { spawnServer, waitFor, type SpawnedServer } from '../test/support/server.js';

const ADMIN = 'bench-admin-key-0123456789abcdef';
const PHASE_MIN_MS = 4_000;

const percentile = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const ms = (n: number) => (Number.isNaN(n) ? '—' : `${n.toFixed(1)} ms`);

async function api(srv: SpawnedServer, key: string, path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}) {
  const res = await fetch(`${srv.url}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { authorization: `Bearer ${key}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    ...(init.signal ? { signal: init.signal } : {}),
  });
  const text = await res.text();
  return { status: res.status, text };
}

async function tenant(srv: SpawnedServer, id: string): Promise<string> {
  await api(srv, ADMIN, '/v1/admin/tenants', { body: { id } });
  const made = await api(srv, ADMIN, `/v1/admin/tenants/${id}/keys`, { body: { name: 'bench' } });
  return (JSON.parse(made.text) as { key: string }).key;
}

/** The victim's view while `attack` runs (at least PHASE_MIN_MS): /healthz and uncached query latencies. */
async function measure(srv: SpawnedServer, victim: string, attack: () => Promise<string>): Promise<{ health: number[]; query: number[]; note: string }> {
  const health: number[] = [];
  const query: number[] = [];
  let running = true;
  let n = 0;
  const probe = async () => {
    while (running) {
      let t = performance.now();
      await fetch(`${srv.url}/healthz`).then((r) => r.text()).catch(() => null);
      health.push(performance.now() - t);
      t = performance.now();
      await api(srv, victim, '/v1/kbs/default/query', { body: { query: `where do otters sleep ${n++}`, only_context: true } }).catch(() => null);
      query.push(performance.now() - t);
    }
  };
  const probing = probe();
  const started = performance.now();
  const note = await attack();
  const left = PHASE_MIN_MS - (performance.now() - started);
  if (left > 0) await new Promise((r) => setTimeout(r, left));
  running = false;
  await probing;
  return { health, query, note };
}

async function main(): Promise<void> {
  const srv = await spawnServer({ RAGD_ADMIN_KEY: ADMIN, RAGD_LOG_LEVEL: 'error', RAGD_TASK_TIMEOUT_MS: '120000' }, { compiled: true });
  try {
    const victim = await tenant(srv, 'victim');
    const mallory = await tenant(srv, 'mallory');
    for (let i = 0; i < 5; i++) {
      await api(srv, victim, '/v1/kbs/default/documents', { body: { name: `otters-${i}.txt`, text: `Sea otters sleep floating on their backs, holding hands. Fact ${i}. 海獭睡觉时手牵手。` } });
    }
    await waitFor(async () => (await api(srv, victim, '/v1/kbs/default/documents?status=ready')).text.split('"ready"').length > 5, { timeoutMs: 60_000, what: 'victim corpus' });

    const rows: { phase: string; health: number[]; query: number[]; note: string }[] = [];
    const run = async (phase: string, attack: () => Promise<string>) => {
      process.stdout.write(`  ${phase}…\n`);
      rows.push({ phase, ...(await measure(srv, victim, attack)) });
    };

    await run('idle', async () => '');

    await run('metadata (1)', async () => {
      const meta = { note: 'm'.repeat(64 * 1024 - 20) };
      let refused = 0;
      for (let i = 0; i < 40; i++) {
        const r = await api(srv, mallory, '/v1/kbs/default/documents', { body: { name: `m${i}.txt`, text: `tiny ${i}`, metadata: meta } });
        if (r.status >= 400) refused++;
      }
      let biggest = 0;
      for (let i = 0; i < 20; i++) biggest = Math.max(biggest, (await api(srv, mallory, '/v1/kbs/default/documents?limit=1000')).text.length);
      return `40 uploads (${refused} refused), largest list page ${(biggest / 1024).toFixed(0)} KB`;
    });

    await run('encoded (2)', async () => {
      await api(srv, ADMIN, '/v1/admin/tenants/mallory/settings', { method: 'PATCH', body: { limits: { requests_per_minute: 5 } } });
      const counts: Record<number, number> = {};
      for (let i = 0; i < 300; i++) {
        const path = ['/%761/kbs', '//v1/kbs', '/V1/kbs', '/v1/kbs'][i % 4]!;
        const r = await api(srv, mallory, path);
        counts[r.status] = (counts[r.status] ?? 0) + 1;
      }
      await api(srv, ADMIN, '/v1/admin/tenants/mallory/settings', { method: 'PATCH', body: { limits: { requests_per_minute: null } } });
      return `300 requests at rpm=5: ${Object.entries(counts).map(([s, n]) => `${n}×${s}`).join(', ')}`;
    });

    await run('files (3)', async () => {
      const depth = 1_000_000;
      const html = `<html><body>${'<div>'.repeat(depth)}deep${'</div>'.repeat(depth)}</body></html>`;
      const upload = (name: string, bytes: Uint8Array | string) => {
        const form = new FormData();
        form.append('file', new Blob([bytes]), name);
        return fetch(`${srv.url}/v1/kbs/default/documents`, { method: 'POST', headers: { authorization: `Bearer ${mallory}` }, body: form }).then((r) => r.json() as Promise<{ documents?: { id: string }[] }>);
      };
      const docxMb = Number(process.env.BENCH_DOCX_MB ?? 80);
      const hostile = await Promise.all([
        upload('nested.html', html),
        upload('balloon.docx', makeBalloonDocx(docxMb)),
        upload('oneline.txt', 'word '.repeat(200_000)),
      ]);
      const t = performance.now();
      const mine = await api(srv, victim, '/v1/kbs/default/documents', { body: { name: 'ordinary.txt', text: 'An ordinary document about river otters. 一份普通的文件。' } });
      const id = (JSON.parse(mine.text) as { documents: { id: string }[] }).documents[0]!.id;
      const settled = await waitFor(
        async () => {
          const v = JSON.parse((await api(srv, victim, `/v1/kbs/default/documents/${id}`)).text) as { status: string };
          return v.status === 'ready' || v.status === 'failed' ? v.status : null;
        },
        { timeoutMs: 300_000, intervalMs: 100, what: 'the victim document' },
      );
      const readyMs = performance.now() - t;
      const outcomes = await Promise.all(
        hostile.map(async (h) => {
          const hid = h.documents?.[0]?.id;
          if (!hid) return 'refused';
          return waitFor(
            async () => {
              const v = JSON.parse((await api(srv, mallory, `/v1/kbs/default/documents/${hid}`)).text) as { status: string; error?: string | null };
              return v.status === 'ready' || v.status === 'failed' ? `${v.status}${v.error ? ` (${v.error.slice(0, 60)})` : ''}` : null;
            },
            { timeoutMs: 300_000, intervalMs: 250, what: 'a hostile document' },
          );
        }),
      );
      return `victim document ${settled} after ${readyMs.toFixed(0)} ms; hostile: html ${outcomes[0]}; docx ${outcomes[1]}; text ${outcomes[2]}`;
    });

    await run('aborts (4)', async () => {
      const total = Number(process.env.BENCH_ABORTS ?? 2000);
      // In a child process: 200 fetches in flight here would slow this process's own probes.
      const flood = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./abort-flood.ts', import.meta.url)), srv.url, mallory, String(total)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      flood.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const [code] = (await once(flood, 'exit')) as [number | null];
      if (code !== 0) throw new Error(`the abort flood exited with ${code}`);
      const { sent, ms: took } = JSON.parse(out.trim()) as { sent: number; ms: number };
      return `${sent} queries aborted after 40 ms, 200 at a time, from a separate process (${(took / 1000).toFixed(1)} s)`;
    });

    console.log('\nbench:abuse — the victim tenant while another tenant attacks (p50 / p99)\n');
    console.log('phase          | /healthz p50 | /healthz p99 | query p50 | query p99 | samples');
    console.log('---------------|--------------|--------------|-----------|-----------|--------');
    for (const r of rows) {
      console.log(
        `${r.phase.padEnd(14)} | ${ms(percentile(r.health, 50)).padStart(12)} | ${ms(percentile(r.health, 99)).padStart(12)} | ${ms(percentile(r.query, 50)).padStart(9)} | ${ms(percentile(r.query, 99)).padStart(9)} | ${r.query.length}`,
      );
    }
    console.log('');
    for (const r of rows) if (r.note) console.log(`${r.phase}: ${r.note}`);
  } finally {
    await srv.stop();
    await srv.cleanup();
  }
}

await main();
