/**
 * bench:query part (e): one tenant's query latency while another tenant bulk-ingests. Its own
 * ragd with authentication on (admin key, two tenants with their own API keys), so every request
 * goes through key resolution as in a shared deployment.
 */
import { spawnServer } from '../test/support/server.js';
import { bulkIngest, queryLoad, seedQueryKb } from './bulk-ingest.js';
import { Client } from './load.js';
import { Questions } from './questions.js';

const ADMIN_KEY = 'bench-admin-key-two-tenants';
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

async function tenantKey(url: string, tenant: string): Promise<string> {
  const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
  const created = await fetch(`${url}/v1/admin/tenants`, { method: 'POST', headers: admin, body: JSON.stringify({ id: tenant }) });
  if (created.status !== 201) throw new Error(`create tenant ${tenant}: HTTP ${created.status}`);
  const key = await fetch(`${url}/v1/admin/tenants/${tenant}/keys`, { method: 'POST', headers: admin, body: '{}' });
  if (key.status !== 201) throw new Error(`create key for ${tenant}: HTTP ${key.status}`);
  return ((await key.json()) as { key: string }).key;
}

export async function partTwoTenants(bytes: number, timeoutS: number, row: (...cells: string[]) => void): Promise<void> {
  console.log(`\n(e) two tenants: B's query latency (5 clients, hybrid, only_context) alone vs while A ingests ${(bytes / 1024 / 1024).toFixed(0)} MB`);
  const server = await spawnServer({ RAGD_ADMIN_KEY: ADMIN_KEY, RAGD_LOG_LEVEL: 'warn' }, { compiled: true });
  const clients: Client[] = [];
  try {
    const auth = async (tenant: string) => ({ authorization: `Bearer ${await tenantKey(server.url, tenant)}` });
    const [headersA, headersB] = [await auth('tenant-a'), await auth('tenant-b')];
    const a = new Client(server.url, 64, headersA);
    const b = new Client(server.url, 64, headersB);
    clients.push(a, b);
    const questions = new Questions();
    await seedQueryKb(b, 'bench', questions);
    const queriesOfB = queryLoad(b, questions, 'bench');
    const alone = await queriesOfB(15_000);
    await a.post('/v1/kbs', { id: 'corpus' });
    const ingest = await bulkIngest(a, server.url, 'corpus', bytes, timeoutS, headersA);
    const t0 = performance.now();
    const busy = await queriesOfB(ingest.done);
    const ingestS = (performance.now() - t0) / 1000;
    await ingest.finished;
    row(
      `B alone p50 ${fmt(alone.p50)} p99 ${fmt(alone.p99)} (${alone.n})`,
      `B while A ingests p50 ${fmt(busy.p50)} p99 ${fmt(busy.p99)} (${busy.n}, ${busy.errors} errors, ${ingestS.toFixed(0)} s)`,
      `p99 ratio ${(busy.p99 / alone.p99).toFixed(2)}, p50 ratio ${(busy.p50 / alone.p50).toFixed(2)}`,
    );
  } finally {
    for (const c of clients) c.close();
    await server.stop();
    await server.cleanup();
  }
}
