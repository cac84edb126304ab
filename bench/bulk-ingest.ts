/**
 * Pieces shared by the bench:query parts: seeding a small query corpus, a bulk ingest running in
 * the background, and closed-loop query latency.
 */
import { postFiles, sleep, syntheticCorpus } from '../test/support/server.js';
import { type Client, closedLoop, percentile } from './load.js';
import type { Questions } from './questions.js';

export async function waitIndexed(client: Client, kb: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await client.post(`/v1/kbs/${kb}/query`, { query: 'status', mode: 'lexical', top_k: 1, only_context: true });
    if (r.status === 200 && JSON.parse(r.body).pending_documents === 0) return;
    if (Date.now() > deadline) throw new Error(`${kb}: documents still pending after ${timeoutMs} ms`);
    await sleep(500);
  }
}

/** Creates `kb` with 40 small seeded documents, teaches `questions` their words, waits until indexed. */
export async function seedQueryKb(client: Client, kb: string, questions: Questions): Promise<void> {
  await client.post('/v1/kbs', { id: kb });
  const seed = [...syntheticCorpus({ seed: 7, count: 40, minBytes: 2 * 1024, maxBytes: 16 * 1024 })];
  for (const d of seed) await client.post(`/v1/kbs/${kb}/documents`, { name: d.name, text: d.text });
  questions.learn(seed.map((d) => d.text));
  await waitIndexed(client, kb, 120_000);
}

/**
 * Uploads `bytes` of synthetic documents into `kb` over 8 connections (multipart, as `ragd
 * ingest` does) and watches until every one is indexed. `done()` turns true then (or at the timeout).
 */
export function bulkIngest(
  client: Client,
  url: string,
  kb: string,
  bytes: number,
  timeoutS: number,
  headers: Record<string, string> = {},
): { done: () => boolean; finished: Promise<void> } {
  let uploading = true;
  let pending = 1;
  const uploads = (async () => {
    const docs = syntheticCorpus({ seed: 1, totalBytes: bytes, minBytes: 5 * 1024, maxBytes: 500 * 1024 });
    const it = docs[Symbol.iterator]();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let n = it.next(); !n.done; n = it.next()) await postFiles(url, kb, [{ name: n.value.name, bytes: Buffer.from(n.value.text) }], headers);
      }),
    );
    uploading = false;
  })();
  const watcher = (async () => {
    const deadline = Date.now() + timeoutS * 1000;
    while ((uploading || pending > 0) && Date.now() < deadline) {
      await sleep(1000);
      const r = await client.post(`/v1/kbs/${kb}/query`, { query: 'status', mode: 'lexical', top_k: 1, only_context: true });
      pending = r.status === 200 ? JSON.parse(r.body).pending_documents : pending;
    }
    pending = 0;
    uploading = false;
  })();
  return { done: () => !uploading && pending === 0, finished: Promise.all([uploads, watcher]).then(() => undefined) };
}

/** A closed-loop run of only_context hybrid queries (5 clients) on `kb`; p50/p99 of what completed. */
export function closedLoopStats(client: Client, questions: Questions, kb = 'bench') {
  return async (until: number | (() => boolean)) => {
    const r = await closedLoop(5, until, () => client.post(`/v1/kbs/${kb}/query`, { query: questions.next(), only_context: true }));
    return { p50: percentile(r.latencies, 50), p99: percentile(r.latencies, 99), n: r.latencies.length, errors: r.errors };
  };
}
