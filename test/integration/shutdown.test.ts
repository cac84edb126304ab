/**
 * Graceful shutdown of a real `ragd serve` child process: SIGTERM while a streaming answer is in
 * flight and the pipeline is busy. The client still gets its `done`, new connections are refused,
 * the process exits 0, and the jobs table holds no lease. A second signal forces the exit; the
 * shutdown deadline bounds a stream that would outlive it.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { WebSocket } from 'ws';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openDatabase } from '../../src/adapters/embedded/sqlite/open.js';
import { fakeModelsEnv, startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { readSse, spawnServer, startTestServer, uploadText, waitFor, waitReady, type SpawnedServer, type SseEvent } from '../support/server.js';

const KB = 'default';
const ANSWER = Array.from({ length: 20 }, (_, i) => `word${i}`).join(' ');
const EMBED_MS = 1000;

const fakes: FakeOpenAI[] = [];
const servers: SpawnedServer[] = [];

after(async () => {
  for (const s of servers) {
    await s.kill('SIGKILL');
    await s.cleanup();
  }
  for (const f of fakes) await f.close();
});

/** The stand-in model: answers stream at `tokenDelayMs` a token; every embedding call takes 1 s. */
async function startModel(tokenDelayMs: number): Promise<FakeOpenAI> {
  const fake = await startFakeOpenAI({ answer: ANSWER, tokenDelayMs, embeddings: { latencyMs: EMBED_MS } });
  fakes.push(fake);
  return fake;
}

/**
 * ragd with the stand-in as LLM and embedder: a document's embed stage then holds its lease for
 * a second, so a shutdown lands while stages are running. Leases are long (60 s): one left
 * behind would still be in the table when the test looks.
 */
async function spawnWith(fake: FakeOpenAI, env: Record<string, string> = {}): Promise<SpawnedServer> {
  const server = await spawnServer({
    ...fakeModelsEnv(fake.url),
    RAGD_LEASE_MS: '60000',
    ...env,
  });
  servers.push(server);
  return server;
}

async function start(tokenDelayMs: number, env: Record<string, string> = {}): Promise<SpawnedServer> {
  const server = await spawnWith(await startModel(tokenDelayMs), env);
  const doc = await uploadText(server.url, KB, 'otters.txt', 'Sea otters hold hands while sleeping so that they do not drift apart.');
  await waitReady(server.url, KB, [doc.id]);
  return server;
}

/** Opens a streaming query and returns its event iterator once the first token has arrived. */
async function streamUntilFirstToken(url: string): Promise<{ events: SseEvent[]; rest: Promise<SseEvent[]> }> {
  const res = await fetch(`${url}/v1/kbs/${KB}/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'Why do sea otters hold hands?', stream: true }),
  });
  assert.equal(res.status, 200);
  const it = readSse(res.body!)[Symbol.asyncIterator]();
  const events: SseEvent[] = [];
  for (;;) {
    const step = await it.next();
    assert.ok(!step.done, 'the stream ended before its first token');
    events.push(step.value);
    if (step.value.event === 'token') break;
  }
  const rest = (async () => {
    try {
      for (let step = await it.next(); !step.done; step = await it.next()) events.push(step.value);
    } catch {
      // The connection was cut: the events read so far are the result.
    }
    return events;
  })();
  return { events, rest };
}

function exitOf(server: SpawnedServer): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const child = server.child;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Reads the jobs table of a stopped (or running: WAL) server directly. */
function countJobs(dataDir: string, where: string): number {
  const db = openDatabase(join(dataDir, 'ragd.db'), { readonly: true });
  try {
    return db.prepare(`SELECT count(*) FROM jobs WHERE ${where}`).pluck().get() as number;
  } finally {
    db.close();
  }
}

const leasedJobs = (dataDir: string) => countJobs(dataDir, `status = 'running' OR lease_owner IS NOT NULL`);
const queuedJobs = (dataDir: string) => countJobs(dataDir, `status = 'queued'`);

describe('graceful shutdown', () => {
  test('SIGTERM lets a streaming answer finish, refuses new connections, exits 0 and leaves no lease', async () => {
    const server = await start(100);
    // Keep the pipeline busy at the moment the signal lands.
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      ids.push((await uploadText(server.url, KB, `note-${i}.txt`, `Note ${i}. `.repeat(200) + `Otters are mustelids number ${i}.`)).id);
    }
    await waitFor(() => leasedJobs(server.dataDir) > 0, { what: 'a pipeline stage to be running' });
    const { rest } = await streamUntilFirstToken(server.url);
    const exited = exitOf(server);
    server.child.kill('SIGTERM');

    // The listener closes at once; the answer in flight goes on.
    await assert.rejects(
      (async () => {
        for (let i = 0; i < 50; i++) {
          await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.body?.cancel());
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
      'a new connection after SIGTERM must be refused',
    );

    const events = await rest;
    const names = events.map((e) => e.event);
    assert.equal(names.at(-1), 'done', `events: ${names.join(',')}`);
    const tokens = events.filter((e) => e.event === 'token').map((e) => JSON.parse(e.data).text as string).join('');
    assert.equal(tokens.trim(), ANSWER, 'every token arrived');

    const { code, signal } = await exited;
    assert.equal(signal, null, server.output());
    assert.equal(code, 0, server.output());
    assert.equal(leasedJobs(server.dataDir), 0, 'no job is left leased');

    // Nothing was lost: a new process on the same data directory finishes every document.
    const again = await spawnWith(fakes.at(-1)!, { RAGD_DATA_DIR: server.dataDir });
    await waitReady(again.url, KB, ids, { timeoutMs: 60_000 });
    await again.stop();
  });

  test('the deadline cuts off a stream and stages that would outlive it; leases are handed back, exit 0', async () => {
    const server = await start(1000, { RAGD_SHUTDOWN_TIMEOUT_MS: '1500', RAGD_LOG_LEVEL: 'info' });
    const { rest } = await streamUntilFirstToken(server.url);
    // Stages that cannot finish within the deadline: embedding now takes 30 s.
    fakes.at(-1)!.setBehavior({ embeddings: { latencyMs: 30_000 } });
    for (let i = 0; i < 3; i++) await uploadText(server.url, KB, `slow-${i}.txt`, `Slow note ${i} about otters.`);
    await waitFor(() => leasedJobs(server.dataDir) > 0, { what: 'a pipeline stage to be running' });
    const exited = exitOf(server);
    const t0 = Date.now();
    server.child.kill('SIGTERM');
    const events = await rest;
    assert.notEqual(events.at(-1)?.event, 'done', 'a 20 s answer cannot finish within a 1.5 s deadline');
    const { code } = await exited;
    assert.equal(code, 0, server.output());
    assert.ok(Date.now() - t0 < 15_000, `exited ${Date.now() - t0} ms after SIGTERM`);
    assert.equal(leasedJobs(server.dataDir), 0);
    assert.equal(queuedJobs(server.dataDir), 3, 'the interrupted stages are queued again, not lost');
  });

  test('a second signal forces the exit', async () => {
    const server = await start(1000, { RAGD_SHUTDOWN_TIMEOUT_MS: '60000' });
    const { rest } = await streamUntilFirstToken(server.url);
    const exited = exitOf(server);
    server.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(server.child.exitCode, null, 'the first signal waits for the answer in flight');
    const t0 = Date.now();
    server.child.kill('SIGINT');
    const { code } = await exited;
    assert.notEqual(code, 0, 'a forced exit is not a clean one');
    assert.ok(Date.now() - t0 < 10_000, `exited ${Date.now() - t0} ms after the second signal`);
    const events = await rest;
    assert.notEqual(events.at(-1)?.event, 'done');
  });

  test('a request arriving on a busy connection during the drain gets 503 shutting_down; the answer before it completes', async () => {
    const fake = await startFakeOpenAI({ answer: ANSWER, tokenDelayMs: 50 });
    fakes.push(fake);
    const server = await startTestServer({ RAGD_LLM_BASE_URL: fake.url, RAGD_LLM_MODEL: 'fake-chat' });
    try {
      const doc = await uploadText(server.url, KB, 'otters.txt', 'Sea otters hold hands while sleeping so that they do not drift apart.');
      await waitReady(server.url, KB, [doc.id]);
      const { port } = new URL(server.url);
      const socket = connect(Number(port), '127.0.0.1');
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      const ended = new Promise((r) => socket.once('close', r));
      const body = JSON.stringify({ query: 'Why do sea otters hold hands?', stream: true });
      socket.write(`POST /v1/kbs/${KB}/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      while (!text.includes('event: token')) await new Promise((r) => setTimeout(r, 10));
      const closing = server.close();
      await new Promise((r) => setTimeout(r, 50));
      socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await ended;
      await closing;
      const [first, second] = text.split(/(?=HTTP\/1\.1 )/);
      assert.match(first!, /^HTTP\/1\.1 200/);
      assert.match(first!, /event: done/, 'the answer in flight completed');
      assert.match(second ?? '', /^HTTP\/1\.1 503/, text.slice(-400));
      assert.match(second!, /retry-after: 1/i);
      assert.match(second!, /connection: close/i);
      assert.match(second!, /"code":"shutting_down"/);
    } finally {
      await server.close();
    }
  });

  test('event streams that never end by themselves (task SSE, KB WebSocket) are closed at once, not waited for', async () => {
    // Embedding never answers: the document's task stays running, so its event stream stays open.
    const fake = await startFakeOpenAI({ embeddings: { latencyMs: 60_000 } });
    fakes.push(fake);
    const server = await startTestServer({
      RAGD_EMBED_BASE_URL: fake.url,
      RAGD_EMBED_MODEL: 'fake-embed',
      RAGD_EMBED_DIM: '384',
      RAGD_SHUTDOWN_TIMEOUT_MS: '4000',
    });
    const doc = await uploadText(server.url, KB, 'otters.txt', 'Sea otters hold hands while sleeping.');
    const stage = async () => ((await (await fetch(`${server.url}/v1/tasks/${doc.task_id}`)).json()) as { stage: string }).stage;
    await waitFor(async () => (await stage()) === 'embed', {
      what: 'the document to reach the embed stage',
    });
    const sse = await fetch(`${server.url}/v1/tasks/${doc.task_id}/events`);
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/v1/kbs/${KB}/events`);
    await new Promise((resolve, reject) => {
      ws.once('message', resolve);
      ws.once('error', reject);
    });
    const t0 = Date.now();
    const closed = server.close().then(() => Date.now() - t0);
    const sseEnded = sse.text().then(() => Date.now() - t0);
    const wsEnded = new Promise<number>((r) => ws.once('close', () => r(Date.now() - t0)));
    const [closeMs, sseMs, wsMs] = await Promise.all([closed, sseEnded, wsEnded]);
    // The pipeline's stuck stage holds the shutdown until its 4 s deadline; the streams do not wait for it.
    assert.ok(closeMs >= 3_500, `close took ${closeMs} ms`);
    assert.ok(sseMs < 2_000, `the task stream ended ${sseMs} ms after shutdown began`);
    assert.ok(wsMs < 2_000, `the WebSocket closed ${wsMs} ms after shutdown began`);
  });
});
