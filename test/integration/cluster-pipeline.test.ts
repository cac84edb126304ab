/**
 * Cluster mode under failure, as separate processes on a private PostgreSQL and Redis
 * (test/support/cluster.ts): two API nodes (`ragd serve`), two workers (`ragd worker`), a shared
 * RAGD_BLOB_DIR and the stand-in embedding server. Each case breaks something in the middle of an
 * ingest (a worker killed, a worker frozen past its lock, Redis emptied, PostgreSQL restarted) and
 * checks that every document still ends `ready`, with the chunks an embedded run makes of the same
 * input, each stored once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { type Cluster, startCluster, withClusterLogs } from '../support/cluster.js';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { listDocuments, sleep, uploadText, waitFor } from '../support/server.js';
import {
  assertIndexedOnce,
  assertSameChunks,
  CHUNKING,
  createKb,
  embeddedChunkCounts,
  readyCount,
  smallCorpus,
  uploadAll,
  waitAllReady,
} from './cluster-support.js';

const DIM = 64;
/** A BullMQ lock (RAGD_LEASE_MS) short enough that a dead or frozen worker's job moves on within seconds. */
const LEASE_MS = 2000;

describe('cluster pipeline under failure', { timeout: 900_000 }, () => {
  let fake: FakeOpenAI;
  let cluster: Cluster | undefined;
  const corpus = smallCorpus(300);
  let expected: Map<string, number>;
  const logs = <A extends unknown[]>(fn: (...a: A) => Promise<void>) => withClusterLogs(() => cluster, fn);

  before(async () => {
    // Each embedding call takes a little while, so stages are still running when a test strikes.
    fake = await startFakeOpenAI({ embedDim: DIM, embeddings: { latencyMs: 20 } });
    const models = { RAGD_EMBED_BASE_URL: fake.url, RAGD_EMBED_MODEL: 'fake-embed', RAGD_EMBED_DIM: String(DIM) };
    expected = await embeddedChunkCounts(corpus, models);
    cluster = await startCluster({
      apis: 2,
      workers: [[], []],
      env: { ...CHUNKING, ...models, RAGD_LEASE_MS: String(LEASE_MS), RAGD_EMBED_MAX_RETRIES: '1', RAGD_BACKOFF_BASE_MS: '100' },
    });
  });
  after(async () => {
    await cluster?.close();
    await fake?.close();
  });

  /** Both workers running again (a test may leave one killed or paused). */
  const restoreWorkers = async () => {
    for (const w of cluster!.workers) {
      w.resume();
      if (!w.running()) await w.restart();
    }
  };

  test(
    'kill -9 of a worker while 300 documents are ingested: all end ready, chunks as embedded, none twice',
    logs(async () => {
      const [a] = cluster!.apis;
      const [victim] = cluster!.workers;
      await createKb(a!.url, 'killed');
      const uploads = uploadAll(a!.url, 'killed', corpus);
      await waitFor(async () => (await readyCount(a!.url, 'killed')) >= 20, { timeoutMs: 120_000, what: '20 documents ready before the kill' });
      const readyAtKill = await readyCount(a!.url, 'killed');
      const killed = await victim!.kill9();
      assert.equal(killed.signal, 'SIGKILL');
      assert.ok(readyAtKill < corpus.length, `the worker was killed mid-ingest (${readyAtKill} of ${corpus.length} ready)`);
      await sleep(1000);
      await victim!.restart();
      await uploads;
      const views = await waitAllReady(a!.url, 'killed', corpus.length);
      assertSameChunks(views, expected);
      await assertIndexedOnce(cluster!.pg, 'killed', views);
    }),
  );

  test(
    'a worker frozen (SIGSTOP) past its lock while another takes its job over commits nothing when resumed',
    logs(async (t: TestContext) => {
      await restoreWorkers();
      const [a, b] = cluster!.apis;
      const [stale, rescuer] = cluster!.workers;
      await createKb(a!.url, 'fenced');
      // Only `stale` runs, so it is the one that takes the document.
      await rescuer!.kill9();
      fake.setBehavior({ embeddings: { latencyMs: 4000 } });
      const doc = corpus[7]!;
      const up = await uploadText(a!.url, 'fenced', doc.name, doc.text);
      await waitFor(() => fake.stats.inFlight.embeddings > 0, { timeoutMs: 60_000, what: 'the stale worker to be in its embed stage' });
      stale!.pause();
      // The answer to the frozen worker's call is held; later calls (the rescuer's) are answered at once.
      fake.setBehavior({ embeddings: { latencyMs: 0 } });
      try {
        await rescuer!.restart();
        const [done] = await waitAllReady(b!.url, 'fenced', 1, 120_000);
        assert.equal(done!.id, up.id);
        assert.equal(done!.chunks, expected.get(doc.name));
        const [kbBefore] = await cluster!.pg.query('SELECT version, chunk_count FROM kbs WHERE id = $1', ['fenced']);
        const chunkRowsBefore = await cluster!.pg.query('SELECT id FROM chunks WHERE kb_id = $1 ORDER BY id', ['fenced']);

        stale!.resume();
        // The stale worker's held embedding call completes after its 4 s latency; give it time to
        // try to settle its stage (and, if the fence failed, to index again).
        await sleep(4000 + 3 * LEASE_MS);
        const [kbAfter] = await cluster!.pg.query('SELECT version, chunk_count FROM kbs WHERE id = $1', ['fenced']);
        assert.deepEqual(kbAfter, kbBefore, 'no commit bumped the KB after the stale worker resumed');
        assert.deepEqual(await cluster!.pg.query('SELECT id FROM chunks WHERE kb_id = $1 ORDER BY id', ['fenced']), chunkRowsBefore, 'the chunks are the rescuer’s, untouched');
        const views = await listDocuments(a!.url, 'fenced');
        assert.deepEqual(views.map((d) => [d.status, d.chunks]), [['ready', expected.get(doc.name)]]);
        await assertIndexedOnce(cluster!.pg, 'fenced', views);
        // The resumed worker carries on serving (it lost one job, not its health).
        await stale!.ready(30_000);
        const metrics = await (await fetch(`${stale!.url}/metrics`)).text();
        const rejections = /^ragd_pipeline_fence_rejections_total (\d+)/m.exec(metrics)?.[1] ?? 'not reported';
        t.diagnostic(`the resumed worker's fence rejections: ${rejections}`);
      } finally {
        stale!.resume();
        fake.setBehavior({ embeddings: { latencyMs: 20 } });
      }
    }),
  );

  test(
    'Redis emptied (FLUSHALL) mid-ingest: every document still ends ready, each indexed once',
    logs(async () => {
      await restoreWorkers();
      const [a, b] = cluster!.apis;
      const docs = corpus.slice(0, 100);
      await createKb(a!.url, 'flushed');
      const uploads = uploadAll(b!.url, 'flushed', docs);
      await waitFor(async () => (await readyCount(a!.url, 'flushed')) >= 10, { timeoutMs: 120_000, what: '10 documents ready before the flush' });
      await cluster!.redis.flushAll();
      assert.ok((await readyCount(a!.url, 'flushed')) < docs.length, 'Redis was emptied mid-ingest');
      await uploads;
      const views = await waitAllReady(a!.url, 'flushed', docs.length);
      assertSameChunks(views, expected);
      await assertIndexedOnce(cluster!.pg, 'flushed', views);
    }),
  );

  test(
    'PostgreSQL restarted mid-ingest: work resumes, nothing lost, no 5xx once it is back',
    logs(async () => {
      await restoreWorkers();
      const [a, b] = cluster!.apis;
      const docs = corpus.slice(100, 200);
      await createKb(a!.url, 'restarted');
      await uploadAll(a!.url, 'restarted', docs);
      await waitFor(async () => (await readyCount(a!.url, 'restarted')) >= 10, { timeoutMs: 120_000, what: '10 documents ready before the restart' });
      await cluster!.pg.restart({ mode: 'fast', downMs: 2000 });
      // Back: each process's /readyz sees PostgreSQL again (it may take a probe or two).
      for (const node of [...cluster!.apis, ...cluster!.workers]) await node.ready(60_000);

      const statuses: string[] = [];
      const views = await waitFor(
        async () => {
          for (const node of [a!, b!]) {
            const res = await fetch(`${node.url}/v1/kbs/restarted/documents?limit=1000`);
            statuses.push(`${node.name} ${res.status}`);
            if (res.status >= 500) return { failedWith: `${node.name}: ${res.status} ${await res.text()}` };
            await res.body?.cancel();
          }
          const list = await listDocuments(a!.url, 'restarted');
          return list.length === docs.length && list.every((d) => d.status === 'ready' || d.status === 'failed') ? list : null;
        },
        { timeoutMs: 240_000, intervalMs: 500, what: 'every document to settle after the restart' },
      );
      assert.ok(Array.isArray(views), `no 5xx after PostgreSQL was back: ${JSON.stringify(views)}`);
      assert.deepEqual(views.filter((d) => d.status !== 'ready').map((d) => `${d.name}: ${d.error}`), [], 'every document ready');
      assertSameChunks(views, expected);
      await assertIndexedOnce(cluster!.pg, 'restarted', views);
      assert.ok(statuses.length > 0);
    }),
  );
});
