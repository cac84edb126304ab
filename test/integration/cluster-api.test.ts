/**
 * One cluster seen from two API nodes (separate `ragd serve` processes, two `ragd worker`s, a
 * private PostgreSQL and Redis, all four started at once): what happens through one node is what
 * the other one shows. Task
 * events uploaded on A stream on B; content added on A answers on B at once, never a cached answer
 * from before; a document deleted on B is gone on A.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { STAGES } from '../../src/domain/types.js';
import { type Cluster, startCluster, withClusterLogs } from '../support/cluster.js';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { call, prng, readSse, REPO_ROOT, syntheticDocument, uploadText, waitReady } from '../support/server.js';
import { CHUNKING, createKb } from './cluster-support.js';
import { postJson, type QueryAnswer } from './query-support.js';

const DIM = 64;

describe('two API nodes, one cluster', { timeout: 600_000 }, () => {
  let fake: FakeOpenAI;
  let cluster: Cluster | undefined;
  const logs = <A extends unknown[]>(fn: (...a: A) => Promise<void>) => withClusterLogs(() => cluster, fn);

  before(async () => {
    // Embedding takes a moment, so a task has stages to watch.
    fake = await startFakeOpenAI({ embedDim: DIM, embeddings: { latencyMs: 200 } });
    // All four at once on the empty database: the migrations must queue behind the advisory lock.
    cluster = await startCluster({
      apis: 2,
      workers: [[], []],
      startTogether: true,
      env: { ...CHUNKING, RAGD_EMBED_BASE_URL: fake.url, RAGD_EMBED_MODEL: 'fake-embed', RAGD_EMBED_DIM: String(DIM) },
    });
  });
  after(async () => {
    await cluster?.close();
    await fake?.close();
  });

  test(
    'four processes started at once on an empty database are all ready, the schema migrated once',
    logs(async () => {
      const files = (await readdir(join(REPO_ROOT, 'src/adapters/cluster/postgres/migrations'))).filter((f) => f.endsWith('.sql')).sort();
      const rows = await cluster!.pg.query<{ version: number }>('SELECT version FROM ragd_migrations ORDER BY version');
      assert.deepEqual(rows.map((r) => r.version), files.map((f) => Number(f.slice(0, 4))), 'every migration recorded once');
      for (const p of [...cluster!.apis, ...cluster!.workers]) assert.ok(p.running(), `${p.name} runs`);
    }),
  );

  test(
    'SSE on node B for a task uploaded through node A: the current state first, every stage, then ready',
    logs(async () => {
      const [a, b] = cluster!.apis;
      await createKb(a!.url, 'events');
      const up = await uploadText(a!.url, 'events', 'watched.md', syntheticDocument(prng(3), 5, 'md', 12_000).text);
      const current = await call(`${b!.url}/v1/tasks/${up.task_id}`);
      assert.equal(current.status, 200, 'node B knows the task at once (PostgreSQL is the record)');
      const res = await fetch(`${b!.url}/v1/tasks/${up.task_id}/events`, { signal: AbortSignal.timeout(120_000) });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      const events: { event: string; data: any; id: string | null }[] = [];
      for await (const e of readSse(res.body!)) events.push({ event: e.event, id: e.id, data: JSON.parse(e.data) });

      const tasks = events.filter((e) => e.event === 'task').map((e) => e.data);
      assert.ok(tasks.length >= 1);
      assert.ok(tasks[0].version >= current.body.version, 'the first event is the current state, not an older one');
      assert.equal(events.at(-1)!.event, 'end', 'the stream ends with an end event');
      assert.equal(tasks.at(-1).status, 'succeeded');
      for (let i = 1; i < tasks.length; i++) assert.ok(tasks[i].version > tasks[i - 1].version, 'versions strictly increase');
      // Every stage from the first state on, in order, none skipped (the worker ran on another process).
      const stages = STAGES.filter((s) => s !== 'ocr');
      const firstStage = tasks[0].status === 'queued' ? 0 : Math.max(0, stages.indexOf(tasks[0].stage));
      assert.ok(firstStage < stages.length - 1, `the stream started before the last stage: ${JSON.stringify(tasks[0])}`);
      const seen = tasks.map((t) => t.stage).filter((s, i, all): s is string => s !== null && s !== all[i - 1]);
      assert.deepEqual(seen, stages.slice(firstStage), `stages in order: ${JSON.stringify(tasks.map((t) => [t.status, t.stage]))}`);
      const [doc] = await waitReady(b!.url, 'events', [up.id], { timeoutMs: 10_000 });
      assert.equal(doc!.status, 'ready');
    }),
  );

  test(
    'upload through A, ask B: the new content answers and no cached answer from before is served; delete through B, ask A: gone',
    logs(async () => {
      const [a, b] = cluster!.apis;
      await createKb(a!.url, 'fresh');
      const ask = async (url: string): Promise<QueryAnswer> => {
        const r = await postJson(`${url}/v1/kbs/fresh/query`, { query: 'Which colour is the harbour lighthouse painted?', mode: 'lexical' });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body as QueryAnswer;
      };
      const old = await uploadText(a!.url, 'fresh', 'lighthouse-1990.txt', 'The harbour lighthouse is painted red and white, in stripes, since 1990.');
      await waitReady(a!.url, 'fresh', [old.id]);
      const first = await ask(b!.url);
      assert.deepEqual(first.citations.map((c) => c.document_id), [old.id]);
      assert.equal((await ask(b!.url)).cached, true, 'node B caches its answer');
      assert.equal((await ask(a!.url)).citations[0]!.document_id, old.id);

      const added = await uploadText(a!.url, 'fresh', 'lighthouse-2024.txt', 'Harbour notice: the harbour lighthouse was painted bright green in 2024. Lighthouse colour: green.');
      await waitReady(a!.url, 'fresh', [added.id]);
      const afterAdd = await ask(b!.url);
      assert.equal(afterAdd.cached, false, 'the answer cached before the upload is not served');
      assert.ok(afterAdd.citations.some((c) => c.document_id === added.id), 'node B answers from the new document');
      // Node A's own cached answer (from before) is stale too.
      const onA = await ask(a!.url);
      assert.ok(onA.citations.some((c) => c.document_id === added.id), 'node A answers from the new document');

      const del = await call(`${b!.url}/v1/kbs/fresh/documents/${added.id}`, { method: 'DELETE' });
      assert.equal(del.status, 204);
      assert.equal((await call(`${a!.url}/v1/kbs/fresh/documents/${added.id}`)).status, 404, 'node A no longer lists it');
      const afterDelete = await ask(a!.url);
      assert.equal(afterDelete.cached, false, 'the answer cached while it existed is not served');
      assert.deepEqual(afterDelete.citations.map((c) => c.document_id), [old.id], 'node A answers without the deleted document');
      assert.ok(!JSON.stringify(afterDelete).includes('bright green'), 'nothing of the deleted text is served');
    }),
  );
});
