/**
 * Issue 19's end-to-end proof: Debian's nginx, with deploy/nginx.conf.template rendered for local
 * ports, in front of a real ragd cluster (two `ragd serve` nodes, two `ragd worker`s, a private
 * PostgreSQL and Redis, the stand-in model server), and every action THROUGH NGINX ONLY. The
 * test reads a node's own /metrics directly only to see where nginx put a connection.
 *
 * Never skipped: nginx, PostgreSQL's binaries or redis-server missing is a failure.
 */
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Cluster, type RagdProcess, startCluster, withClusterLogs } from '../support/cluster.js';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { openKbSocket } from '../support/kb-socket.js';
import { assertNginxInstalled, type RunningNginx, nginxDir, startNginx } from '../support/nginx.js';
import { call, listDocuments, prng, readSse, runRagd, type SseEvent, syntheticDocument, uploadText, waitFor } from '../support/server.js';
import { assertIndexedOnce, CHUNKING, createKb, smallCorpus, uploadAll, waitAllReady } from './cluster-support.js';

const DIM = 64;
/** Short, so the worker's drain is quick; the embed latency below outlasts it on purpose. */
const SHUTDOWN_MS = 2500;
const LIGHTHOUSE = 'Harbour notice: the harbour lighthouse is painted bright green, with a white lantern room on top.';
const QUESTION = 'Which colour is the harbour lighthouse painted?';

/** An SSE stream read chunk by chunk: each event carries the index of the network read that completed it. */
interface TimedEvent extends SseEvent {
  chunk: number;
  /** The stand-in model's chat requests still open when the event reached this process. */
  chatInFlight: number;
}

/**
 * Reads `body` one network chunk at a time (no read-ahead), so an event's `chunk` tells which
 * read delivered it: a buffering proxy would hand the whole answer over in one read.
 */
async function* timedSse(body: ReadableStream<Uint8Array>, fake: FakeOpenAI): AsyncGenerator<TimedEvent> {
  const reader = body.getReader();
  let chunks = 0;
  const counted = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else {
          chunks++;
          controller.enqueue(value);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
  for await (const e of readSse(counted)) yield { ...e, chunk: chunks, chatInFlight: fake.stats.inFlight.chat };
}

/** A node's open SSE streams, from its own /metrics (observation only: no action goes around nginx). */
async function openSseOn(node: RagdProcess): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const m = /^ragd_open_connections\{kind="sse"\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/** The embedding calls a worker has open right now, from its /metrics: it holds an embed job. */
async function embedCallsOn(worker: RagdProcess): Promise<number> {
  const text = await (await fetch(`${worker.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  return [...text.matchAll(/^ragd_provider_in_flight\{provider="embed[^"]*"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

/** POSTs a streamed question; resolves with the response (headers in) and a promise of its outcome. */
async function askStreaming(url: string, kb: string, query: string, fake: FakeOpenAI) {
  const res = await fetch(`${url}/v1/kbs/${kb}/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, mode: 'lexical', stream: true }),
    signal: AbortSignal.timeout(120_000),
  });
  assert.equal(res.status, 200, `streamed question: HTTP ${res.status}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const outcome = (async () => {
    const events: TimedEvent[] = [];
    try {
      for await (const e of timedSse(res.body!, fake)) events.push(e);
      return { events, broken: null as string | null };
    } catch (err) {
      return { events, broken: (err as Error).message };
    }
  })();
  return { res, outcome };
}

describe('a ragd cluster behind nginx, used through nginx only', { timeout: 900_000 }, () => {
  let fake: FakeOpenAI;
  let cluster: Cluster | undefined;
  let nginx: RunningNginx;
  let root: string;
  const logs = <A extends unknown[]>(fn: (...a: A) => Promise<void>) =>
    withClusterLogs(() => cluster, async (...a: A) => {
      try {
        await fn(...a);
      } catch (err) {
        if (err instanceof Error && nginx) err.message += `\n--- nginx error log ---\n${nginx.errorLog().split('\n').slice(-20).join('\n')}`;
        throw err;
      }
    });

  before(async () => {
    // Before the cluster's minute of start-up: no nginx is a failure at once.
    assertNginxInstalled();
    root = await nginxDir();
    fake = await startFakeOpenAI({ embedDim: DIM });
    cluster = await startCluster({
      apis: 2,
      workers: [[], []],
      env: {
        ...CHUNKING,
        RAGD_LLM_BASE_URL: fake.url,
        RAGD_LLM_MODEL: 'fake-chat',
        RAGD_EMBED_BASE_URL: fake.url,
        RAGD_EMBED_MODEL: 'fake-embed',
        RAGD_EMBED_DIM: String(DIM),
        RAGD_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_MS),
      },
    });
    nginx = await startNginx(cluster.apis.map((a) => `127.0.0.1:${a.port}`), { dir: root });
  });
  after(async () => {
    await nginx?.close();
    await cluster?.close();
    await fake?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  test(
    '`ragd ingest <dir> --url <nginx>` uploads a folder and follows every task to ready over SSE through nginx',
    logs(async () => {
      const dir = join(root, 'folder');
      await mkdir(join(dir, 'notes'), { recursive: true });
      const rand = prng(19);
      const files = [
        ['lighthouse.md', `# Harbour\n\n${LIGHTHOUSE}\n`],
        ...Array.from({ length: 5 }, (_, i) => [`notes/note-${i}.txt`, syntheticDocument(rand, i, 'txt', 1500).text]),
      ] as const;
      for (const [name, text] of files) await writeFile(join(dir, name), text);
      await createKb(nginx.url, 'edge');

      const run = await runRagd(['ingest', dir, '--url', nginx.url, '--kb', 'edge'], { RAGD_LOG_LEVEL: 'warn' });
      assert.equal(run.code, 0, `ragd ingest: ${run.stdout}\n${run.stderr}`);
      assert.match(run.stdout, new RegExp(`${files.length} file\\(s\\).*: ${files.length} ready, 0 failed`));

      const docs = await listDocuments(nginx.url, 'edge');
      assert.equal(docs.length, files.length);
      assert.ok(docs.every((d) => d.status === 'ready' && d.chunks > 0), JSON.stringify(docs.map((d) => [d.name, d.status, d.chunks])));
      // The CLI watched each task over SSE, and those streams went through nginx to ragd.
      const streams = nginx.accessLog().split('\n').filter((l) => /"GET \/v1\/tasks\/[^ ]+\/events HTTP\/1\.1" 200 /.test(l));
      assert.ok(streams.length >= files.length, `one task stream per file through nginx:\n${streams.join('\n')}`);
      assert.ok(streams.every((l) => /upstream=127\.0\.0\.1:\d+/.test(l)), 'served by a ragd node');
    }),
  );

  test(
    'a streamed answer through nginx: the first token reaches the client while the model is still generating',
    logs(async () => {
      // 30 words, 120 ms apart: about 3.6 s of generation.
      fake.setBehavior({ tokenDelayMs: 120, answer: `The harbour lighthouse is painted bright green ${'and it stands on the rocks '.repeat(4)}[1].` });
      const { res, outcome } = await askStreaming(nginx.url, 'edge', QUESTION, fake);
      const { events, broken } = await outcome;
      assert.equal(broken, null, 'the stream ends cleanly');
      const tokens = events.filter((e) => e.event === 'token');
      const done = events.find((e) => e.event === 'done');
      assert.ok(tokens.length >= 10, `tokens streamed: ${events.map((e) => e.event).join(',')}`);
      assert.ok(done, 'a done event ends the answer');
      assert.equal(events.at(-1)!.event, 'done');
      const first = tokens[0]!;
      // A proxy that holds the stream back (e.g. gzip over text/event-stream) delivers context,
      // tokens and done in one read: this fails then (checked by hand against such a config).
      assert.ok(first.chunk < done.chunk, `the first token (read ${first.chunk}) arrived before the end (read ${done.chunk}), not in one buffered piece`);
      assert.ok(first.chatInFlight >= 1, 'the model was still generating when the first token reached the client');
      assert.match(tokens.map((t) => JSON.parse(t.data).text).join(''), /bright green/);
      fake.setBehavior({ tokenDelayMs: 0 });
    }),
  );

  test(
    "a KB's WebSocket events and a task's SSE through nginx while a document is uploaded",
    logs(async () => {
      // Each embedding call takes a moment, so the task has stages to watch.
      fake.setBehavior({ embeddings: { latencyMs: 300 } });
      try {
        await createKb(nginx.url, 'live');
        const socket = await openKbSocket(nginx.url, 'live', {});
        assert.ok(socket.ws, `the WebSocket upgrade went through nginx (status ${socket.status}, close ${socket.closeCode})`);
        try {
          const up = await uploadText(nginx.url, 'live', 'watched.md', syntheticDocument(prng(7), 1, 'md', 6000).text);
          const res = await fetch(`${nginx.url}/v1/tasks/${up.task_id}/events`, { signal: AbortSignal.timeout(120_000) });
          assert.equal(res.status, 200);
          assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
          const events: { event: string; data: any }[] = [];
          for await (const e of readSse(res.body!)) events.push({ event: e.event, data: JSON.parse(e.data) });
          assert.equal(events.at(-1)?.event, 'end', 'the task stream ends with end');
          const states = events.filter((e) => e.event === 'task').map((e) => e.data);
          assert.equal(states.at(-1).status, 'succeeded', 'the task reached ready over SSE');

          const seen = await waitFor(
            () => {
              const mine = socket.messages.filter((m) => m.type === 'task' && m.task.id === up.task_id).map((m) => m.task);
              return mine.some((t) => t.status === 'succeeded') ? mine : null;
            },
            { timeoutMs: 30_000, what: 'the task to succeed on the KB socket' },
          );
          const stages = new Set(seen.map((t) => t.stage).filter(Boolean));
          assert.ok(stages.size >= 2, `the socket followed the task through its stages: ${JSON.stringify(seen.map((t) => [t.status, t.stage]))}`);
          assert.equal(socket.ws.readyState, socket.ws.OPEN, 'the socket stays open');
        } finally {
          socket.ws.close();
        }
      } finally {
        fake.setBehavior({ embeddings: {} });
      }
    }),
  );

  test(
    'so far nginx logged no upstream error and spooled no response to disk',
    logs(async () => {
      const bad = nginx
        .errorLog()
        .split('\n')
        .filter((l) => /\[(error|crit|alert|emerg)\]|buffered to a temporary file/.test(l));
      assert.deepEqual(bad, []);
    }),
  );

  test(
    'SIGTERM to a worker mid-ingest: it exits 0 within RAGD_SHUTDOWN_TIMEOUT_MS, and every document ends ready on the other',
    logs(async () => {
      const [w1] = cluster!.workers as [RagdProcess, RagdProcess];
      // An embedding call outlasts the worker's shutdown deadline, so the embed job it holds when
      // SIGTERM comes cannot finish there: it is handed back, and the other worker indexes it.
      fake.setBehavior({ embeddings: { latencyMs: SHUTDOWN_MS * 2 } });
      const docs = smallCorpus(8, 1919);
      try {
        await createKb(nginx.url, 'drain');
        await uploadAll(nginx.url, 'drain', docs, 4);
        await waitFor(async () => (await embedCallsOn(w1)) > 0, { timeoutMs: 60_000, intervalMs: 100, what: `${w1.name} to hold an embed job` });
        const started = Date.now();
        const exit = await w1.terminate(SHUTDOWN_MS + 15_000);
        const took = Date.now() - started;
        assert.deepEqual(exit, { code: 0, signal: null }, `${w1.name} exits 0 on SIGTERM (took ${took} ms)`);
        assert.ok(took < SHUTDOWN_MS + 10_000, `${w1.name} stopped in ${took} ms (deadline ${SHUTDOWN_MS} ms)`);
        assert.ok((await listDocuments(nginx.url, 'drain')).some((d) => d.status !== 'ready'), 'work was left for the other worker');
      } finally {
        fake.setBehavior({ embeddings: {} });
      }
      const views = await waitAllReady(nginx.url, 'drain', docs.length, 180_000);
      await assertIndexedOnce(cluster!.pg, 'drain', views);
      await w1.restart();
    }),
  );

  test(
    'SIGKILL to an API node: streams in flight on the other finish, new requests all succeed, a reconnecting SSE client gets the current state',
    logs(async () => {
      const apis = cluster!.apis as [RagdProcess, RagdProcess];
      await createKb(nginx.url, 'failover');
      // The task stays in its embed stage for a while (its stream open while the answers below
      // are placed): there is a later state to reconnect to.
      fake.setBehavior({ embeddings: { latencyMs: 8000 } });
      const up = await uploadText(nginx.url, 'failover', 'failover.md', LIGHTHOUSE);
      const taskRes = await fetch(`${nginx.url}/v1/tasks/${up.task_id}/events`, { signal: AbortSignal.timeout(120_000) });
      assert.equal(taskRes.status, 200);
      const taskEvents = readSse(taskRes.body!)[Symbol.asyncIterator]();
      const firstTask = await taskEvents.next();
      assert.ok(!firstTask.done && firstTask.value.event === 'task');
      const lastId = firstTask.value.id!;
      assert.ok(lastId, 'task events carry an id');
      // Which node nginx gave the task stream to: that one dies.
      const victim = await waitFor(
        async () => {
          const counts = await Promise.all(apis.map(openSseOn));
          return counts[0]! + counts[1]! === 1 ? apis[counts.indexOf(1)]! : null;
        },
        { timeoutMs: 10_000, what: 'the task stream to show on one node' },
      );
      const survivor = apis.find((a) => a !== victim)!;

      // Long answers (60 words, 100 ms apart), opened until nginx has put one on the survivor.
      fake.setBehavior({ tokenDelayMs: 100, answer: `The lighthouse is green ${'and white on top '.repeat(14)}[1].` });
      const streams: Awaited<ReturnType<typeof askStreaming>>[] = [];
      let onSurvivor = 0;
      for (let i = 0; i < 8 && onSurvivor === 0; i++) {
        streams.push(await askStreaming(nginx.url, 'edge', `${QUESTION} (asked ${i})`, fake));
        onSurvivor = await waitFor(async () => {
          const counts = await Promise.all([openSseOn(victim), openSseOn(survivor)]);
          return counts[0] + counts[1] === streams.length + 1 ? counts[1] : null;
        }, { timeoutMs: 10_000, what: 'the answer streams to show on the nodes' });
      }
      assert.ok(onSurvivor > 0, 'nginx put an answer stream on the survivor');

      const gone = await victim.kill9();
      assert.equal(gone.signal, 'SIGKILL');
      fake.setBehavior({ embeddings: {} });

      // New requests: every one succeeds (nginx skips the dead node), POSTs included.
      for (let i = 0; i < 12; i++) {
        const list = await call(`${nginx.url}/v1/kbs/edge/documents`);
        assert.equal(list.status, 200, `GET ${i} after the kill: ${JSON.stringify(list.body)}`);
        const q = await call(`${nginx.url}/v1/kbs/edge/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: `${QUESTION} (after ${i})`, mode: 'lexical', only_context: true }),
        });
        assert.equal(q.status, 200, `POST ${i} after the kill: ${JSON.stringify(q.body)}`);
      }
      const more = await uploadText(nginx.url, 'failover', 'after-kill.md', 'Uploaded after one API node died.');
      // The passive health check at work: nginx met the dead node and went on to the survivor.
      assert.ok(nginx.errorLog().includes(`upstream: "http://127.0.0.1:${victim.port}/`), `nginx's error log names the dead node:\n${nginx.errorLog()}`);

      // The streams that were on the survivor all finish; the ones on the dead node broke.
      const outcomes = await Promise.all(streams.map((s) => s.outcome));
      const finished = outcomes.filter((o) => o.broken === null && o.events.at(-1)?.event === 'done');
      assert.equal(finished.length, onSurvivor, `the ${onSurvivor} answer(s) in flight on the survivor finish: ${JSON.stringify(outcomes.map((o) => [o.broken, o.events.at(-1)?.event]))}`);
      for (const o of finished) assert.match(o.events.filter((e) => e.event === 'token').map((e) => JSON.parse(e.data).text).join(''), /green/);

      // The task stream was on the dead node: it ends or breaks. Reconnecting through nginx with
      // Last-Event-ID reaches the survivor, which sends the current state first.
      await (async () => {
        try {
          while (!(await taskEvents.next()).done);
        } catch {
          // cut mid-stream: what a client sees when the node dies
        }
      })();
      const current = await call(`${nginx.url}/v1/tasks/${up.task_id}`);
      assert.equal(current.status, 200);
      const again = await fetch(`${nginx.url}/v1/tasks/${up.task_id}/events`, { headers: { 'last-event-id': lastId }, signal: AbortSignal.timeout(120_000) });
      assert.equal(again.status, 200);
      const resumed: { event: string; id: string | null; data: any }[] = [];
      for await (const e of readSse(again.body!)) resumed.push({ event: e.event, id: e.id, data: JSON.parse(e.data) });
      const states = resumed.filter((e) => e.event === 'task');
      assert.ok(states.length >= 1, 'the reconnected stream sends the task');
      assert.ok(states[0]!.data.version >= current.body.version, `the first event is the current state (version ${states[0]!.data.version} ≥ ${current.body.version})`);
      assert.ok(states[0]!.data.version >= Number(lastId), 'nothing older than what the client had');
      assert.equal(states.at(-1)!.data.status, 'succeeded');
      assert.equal(resumed.at(-1)!.event, 'end');

      await waitAllReady(nginx.url, 'failover', 2, 60_000);
      assert.ok((await listDocuments(nginx.url, 'failover')).some((d) => d.id === more.id));
    }),
  );
});
