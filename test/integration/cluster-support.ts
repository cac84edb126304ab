/**
 * Shared pieces of the multi-process cluster tests (test/integration/cluster-*.test.ts): a small
 * deterministic corpus, uploads that wait out 503/429 like a real client, and the checks on the
 * private PostgreSQL that prove nothing was indexed twice.
 */
import assert from 'node:assert/strict';
import type { PrivatePostgres } from '../support/cluster.js';
import { listDocuments, prng, sleep, startTestServer, syntheticDocument, waitFor, type DocView, type Env, type SyntheticDoc } from '../support/server.js';

/** Small chunks, so a 1–3 KB document makes several of them and a lost or doubled one shows. */
export const CHUNKING: Env = { RAGD_CHUNK_TOKENS: '64', RAGD_CHUNK_OVERLAP: '8' };

/** `count` plain-text documents of 600 B–3 KB, the same on every run. */
export function smallCorpus(count: number, seed = 18): SyntheticDoc[] {
  const rand = prng(seed);
  return Array.from({ length: count }, (_, i) => syntheticDocument(rand, i, 'txt', 600 + Math.floor(rand() * 2400)));
}

/**
 * POSTs one text document, waiting out 503/429 (a full backlog, a store coming back) as a client
 * would, and connection errors while a dependency restarts. Returns the document id.
 */
export async function uploadRetrying(url: string, kb: string, doc: { name: string; text: string }, headers: Record<string, string> = {}): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    let status = 0;
    let body = '';
    let retryAfter = 0;
    try {
      const res = await fetch(`${url}/v1/kbs/${kb}/documents`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ name: doc.name, text: doc.text }),
        signal: AbortSignal.timeout(30_000),
      });
      status = res.status;
      body = await res.text();
      retryAfter = Number(res.headers.get('retry-after') ?? 0);
      if (status === 202) return (JSON.parse(body) as { documents: { id: string }[] }).documents[0]!.id;
    } catch (err) {
      body = (err as Error).message;
    }
    const transient = status === 0 || status === 503 || status === 429;
    if (!transient || attempt >= 200) throw new Error(`upload ${doc.name}: HTTP ${status} ${body}`);
    await sleep(Math.max(100, Math.min(retryAfter * 1000, 2000)));
  }
}

/** Uploads `docs` a few at a time through `url`; their ids in `docs` order. */
export async function uploadAll(url: string, kb: string, docs: readonly { name: string; text: string }[], concurrency = 6): Promise<string[]> {
  const ids: string[] = new Array(docs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < docs.length) {
        const i = next++;
        ids[i] = await uploadRetrying(url, kb, docs[i]!);
      }
    }),
  );
  return ids;
}

export async function createKb(url: string, kb: string): Promise<void> {
  const res = await fetch(`${url}/v1/kbs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: kb }) });
  assert.ok(res.status === 201 || res.status === 200, `create KB ${kb}: ${res.status} ${await res.text()}`);
}

export async function readyCount(url: string, kb: string): Promise<number> {
  return (await listDocuments(url, kb)).filter((d) => d.status === 'ready').length;
}

/** Waits until the KB holds `count` documents, all ready; fails at once if one failed. */
export async function waitAllReady(url: string, kb: string, count: number, timeoutMs = 240_000): Promise<DocView[]> {
  return waitFor(
    async () => {
      const docs = await listDocuments(url, kb);
      const failed = docs.filter((d) => d.status === 'failed');
      if (failed.length > 0) {
        throw Object.assign(new Error(`${failed.length} document(s) failed: ${failed.slice(0, 5).map((d) => `${d.name}: ${d.error}`).join('; ')}`), { fatal: true });
      }
      return docs.length === count && docs.every((d) => d.status === 'ready') ? docs : null;
    },
    { timeoutMs, intervalMs: 500, what: `${count} documents of ${kb} to be ready` },
  );
}

/**
 * Chunks per document name from the embedded default (no cluster env) on the same input and
 * chunking: what the cluster must reproduce exactly.
 */
export async function embeddedChunkCounts(docs: readonly SyntheticDoc[], env: Env = {}): Promise<Map<string, number>> {
  const server = await startTestServer({ ...CHUNKING, ...env });
  try {
    await uploadAll(server.url, 'default', docs);
    const views = await waitAllReady(server.url, 'default', docs.length, 180_000);
    return new Map(views.map((d) => [d.name, d.chunks]));
  } finally {
    await server.close();
  }
}

/** Compares the cluster's documents to the embedded run, by name: same chunk count each. */
export function assertSameChunks(views: readonly DocView[], expected: ReadonlyMap<string, number>): void {
  const diffs = views.filter((d) => expected.get(d.name) !== d.chunks).map((d) => `${d.name}: ${d.chunks} ≠ embedded ${expected.get(d.name)}`);
  assert.deepEqual(diffs, [], 'every document has the chunk count of the embedded run');
}

/**
 * Straight from the private PostgreSQL: the KB's chunk rows, no (document, ordinal) twice, and
 * the KB's counter equal to the rows (a doubled commit would show in one or the other).
 */
export async function assertIndexedOnce(pg: PrivatePostgres, kb: string, views: readonly DocView[]): Promise<number> {
  const [rows] = await pg.query<{ n: string; distinct_n: string }>(
    'SELECT count(*) AS n, count(DISTINCT (document_id, ordinal)) AS distinct_n FROM chunks WHERE kb_id = $1',
    [kb],
  );
  const n = Number(rows!.n);
  assert.equal(Number(rows!.distinct_n), n, `no chunk of ${kb} is stored twice`);
  const expected = views.reduce((s, d) => s + d.chunks, 0);
  assert.equal(n, expected, `the chunk rows of ${kb} are exactly its documents' chunks`);
  const counters = await pg.query<{ chunk_count: string }>('SELECT chunk_count FROM kbs WHERE id = $1', [kb]);
  assert.equal(counters.length, 1, `one KB named ${kb}`);
  assert.equal(Number(counters[0]!.chunk_count), n, `the KB's chunk counter agrees with its rows`);
  const perDoc = await pg.query<{ document_id: string; n: string }>('SELECT document_id, count(*) AS n FROM chunks WHERE kb_id = $1 GROUP BY 1', [kb]);
  const byDoc = new Map(perDoc.map((r) => [r.document_id, Number(r.n)]));
  for (const d of views) assert.equal(byDoc.get(d.id) ?? 0, d.chunks, `${d.name}: its chunk rows match its count`);
  return n;
}
