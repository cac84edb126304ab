import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { sample, scrape, startObservedServer, type ObservedServer } from '../support/observed.js';
import { readSse, waitFor, waitReady } from '../support/server.js';

/**
 * Observability of a real server: metric families that move when the matching work happens,
 * request ids in responses and log lines, no secret in the logs, and readiness that fails
 * (naming the dependency) when the store or a provider is down.
 */

const LLM_KEY = 'sk-obs-SECRET-llm-1234567890';
const EMBED_KEY = 'sk-obs-SECRET-embed-0987654321';
const CLIENT_TOKEN = 'client-token-SECRET-5555';
const URL_KEY = 'url-key-SECRET-7777';
const DOC = { name: 'wifi.md', text: '# Network\nThe guest network is called Zebrafish Guest. Its password rotates weekly.' };

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

describe('observability', { timeout: 180_000 }, () => {
  let fake: FakeOpenAI;
  let srv: ObservedServer;
  let docId = '';
  let taskId = '';

  before(async () => {
    fake = await startFakeOpenAI({ answer: 'Zebrafish Guest [1].', embedDim: 64 });
    srv = await startObservedServer({
      RAGD_LLM_BASE_URL: fake.url,
      RAGD_LLM_API_KEY: LLM_KEY,
      RAGD_LLM_MAX_RETRIES: '2',
      RAGD_LLM_BACKOFF_MS: '10',
      RAGD_LLM_BREAKER_VOLUME: '3',
      RAGD_LLM_BREAKER_RESET_MS: '400',
      RAGD_EMBED_BASE_URL: fake.url,
      RAGD_EMBED_API_KEY: EMBED_KEY,
      RAGD_EMBED_DIM: '64',
      // One embed failure fails the stage attempt at once, so the pipeline's own retry shows.
      RAGD_EMBED_MAX_RETRIES: '0',
      RAGD_BACKOFF_BASE_MS: '20',
      RAGD_BACKOFF_MAX_MS: '50',
    });
  });
  after(async () => {
    await srv?.close();
    await fake?.close();
  });

  test('metric families exist and move with uploads, stage retries, queries, provider calls and connections', async () => {
    const before = await scrape(srv.url);
    for (const family of [
      'ragd_http_request_duration_seconds', 'ragd_event_loop_delay_p99_seconds', 'ragd_event_loop_utilization',
      'ragd_worker_pool_utilization', 'ragd_worker_pool_queue_length', 'ragd_pipeline_jobs', 'ragd_pipeline_job_duration_seconds',
      'ragd_pipeline_retries_total', 'ragd_documents', 'ragd_provider_call_duration_seconds', 'ragd_provider_errors_total',
      'ragd_provider_in_flight', 'ragd_provider_queue_length', 'ragd_provider_breaker_state', 'ragd_cache_lookups_total',
      'ragd_query_phase_duration_seconds', 'ragd_db_call_duration_seconds', 'ragd_db_writer_queue_length', 'ragd_open_connections',
      'process_resident_memory_bytes',
    ]) {
      assert.ok(before.includes(`# TYPE ${family} `), `family ${family} is exposed`);
    }

    fake.setBehavior({ embeddings: { failNext: { status: 503, count: 1 } } });
    const up = await postJson(`${srv.url}/v1/kbs/default/documents`, DOC);
    assert.equal(up.status, 202);
    docId = up.body.documents[0].id;
    taskId = up.body.documents[0].task_id;
    await waitReady(srv.url, 'default', [docId], { timeoutMs: 60_000 });

    const q = (query: string) => postJson(`${srv.url}/v1/kbs/default/query`, { query });
    assert.equal((await q('guest network name')).body.cached, false);
    assert.equal((await q('guest network name')).body.cached, true);
    fake.setBehavior({ chat: { failNext: { status: 503, count: 1 } } });
    assert.equal((await q('how often does the password rotate')).status, 200);

    // Long-lived connections count while open: a streamed answer (slowed down) and a KB feed.
    fake.setBehavior({ tokenDelayMs: 200 });
    const streaming = new AbortController();
    const sse = await fetch(`${srv.url}/v1/kbs/default/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'what is the guest network called', stream: true }),
      signal: streaming.signal,
    });
    const events = readSse(sse.body!);
    assert.equal((await events.next()).value?.event, 'context');
    const ws = new WebSocket(`${srv.url.replace('http', 'ws')}/v1/kbs/default/events`);
    await new Promise((resolve, reject) => ws.once('message', resolve).once('error', reject));
    const during = await scrape(srv.url);
    assert.equal(sample(during, 'ragd_open_connections', 'kind="sse"'), 1);
    assert.equal(sample(during, 'ragd_open_connections', 'kind="websocket"'), 1);
    ws.close();
    streaming.abort();
    await events.return(undefined).catch(() => undefined);
    fake.setBehavior({ tokenDelayMs: 0 });
    await waitFor(async () => sample(await scrape(srv.url), 'ragd_open_connections', 'kind="websocket"') === 0, { what: 'ws gauge back to 0' });

    const after = await scrape(srv.url);
    const moved = (name: string, labels: string) => (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    const count = (name: string, labels: string) => moved(`${name}_count`, labels);

    assert.equal(count('ragd_http_request_duration_seconds', 'method="POST",route="/v1/kbs/:kb/documents",status_code="202"'), 1);
    // Three plain answers; the streamed one is a hijacked response and not timed as a request.
    assert.equal(count('ragd_http_request_duration_seconds', 'method="POST",route="/v1/kbs/:kb/query",status_code="200"'), 3);
    for (const stage of ['parse', 'chunk', 'embed', 'index']) {
      assert.equal(count('ragd_pipeline_job_duration_seconds', `stage="${stage}",outcome="succeeded"`), 1, `${stage} succeeded once`);
    }
    assert.equal(count('ragd_pipeline_job_duration_seconds', 'stage="embed",outcome="retrying"'), 1);
    assert.equal(moved('ragd_pipeline_retries_total', 'stage="embed"'), 1);
    assert.equal(sample(after, 'ragd_documents', 'status="ready"'), 1);
    assert.equal(sample(after, 'ragd_pipeline_jobs', 'stage="embed",state="failed"'), 0);

    assert.ok(count('ragd_provider_call_duration_seconds', 'provider="embed",priority="bulk",outcome="ok"') >= 1);
    assert.ok(count('ragd_provider_call_duration_seconds', 'provider="llm",priority="interactive",outcome="ok"') >= 2);
    assert.equal(moved('ragd_provider_errors_total', 'provider="embed",kind="upstream_error"'), 1);
    assert.equal(moved('ragd_provider_retries_total', 'provider="llm",kind="upstream_error"'), 1);
    assert.equal(sample(after, 'ragd_provider_in_flight', 'provider="llm"'), 0);
    assert.equal(sample(after, 'ragd_provider_breaker_state', 'provider="llm",state="closed"'), 1);

    assert.equal(moved('ragd_cache_lookups_total', 'cache="answer",result="hit"'), 1);
    assert.equal(moved('ragd_cache_lookups_total', 'cache="answer",result="miss"'), 3);
    assert.ok(count('ragd_query_phase_duration_seconds', 'phase="retrieve",cached="false"') >= 2);
    assert.equal(count('ragd_query_phase_duration_seconds', 'phase="total",cached="true"'), 1);
    assert.ok(count('ragd_db_call_duration_seconds', 'op="createDocument",outcome="ok"') >= 1);
    assert.ok(count('ragd_db_call_duration_seconds', 'op="commitIndex",outcome="ok"') >= 1);
    assert.ok(sample(after, 'ragd_worker_pool_threads', 'pool="search"')! >= 0);
  });

  test('the request id is taken from X-Request-Id or generated, echoed, and on every log line of the request', async () => {
    fake.setBehavior({ chat: { failNext: { status: 503, count: 1 } } });
    const given = await postJson(`${srv.url}/v1/kbs/default/query`, { query: 'who names the networks' }, { 'x-request-id': 'obs-req-42' });
    assert.equal(given.status, 200);
    assert.equal(given.headers.get('x-request-id'), 'obs-req-42');
    const generated = await fetch(`${srv.url}/v1/kbs`);
    const id = generated.headers.get('x-request-id');
    assert.match(id ?? '', /^[0-9a-f-]{36}$/);

    const lines = srv.logs();
    const mine = lines.filter((l) => l.reqId === 'obs-req-42');
    assert.ok(mine.some((l) => l.msg === 'incoming request'), 'Fastify request line');
    assert.ok(mine.some((l) => l.msg === 'request completed'), 'Fastify response line');
    // A line from below the HTTP layer (the provider lane's retry) carries the id it was never handed.
    assert.ok(mine.some((l) => l.msg === 'provider call failed; retrying' && l.provider === 'llm'), 'service line has the request id');
    assert.ok(lines.some((l) => l.reqId === id), 'generated id is logged');
    for (const l of lines.filter((x) => x.req !== undefined || x.res !== undefined)) assert.ok(typeof l.reqId === 'string', 'request lines carry reqId');
    // Pipeline lines name the task and document.
    const retry = lines.find((l) => l.msg === 'stage failed; will retry');
    assert.ok(retry, 'the embed retry was logged');
    assert.equal(retry.task_id, taskId);
    assert.equal(retry.document_id, docId);
  });

  test('no secret reaches the logs: configured API keys, Authorization headers, keys in URLs', async () => {
    const res = await fetch(`${srv.url}/v1/kbs?api_key=${URL_KEY}`, { headers: { authorization: `Bearer ${CLIENT_TOKEN}` } });
    await res.body?.cancel();
    const raw = srv.rawLogs();
    for (const secret of [LLM_KEY, EMBED_KEY, CLIENT_TOKEN, URL_KEY]) assert.ok(!raw.includes(secret), `${secret.slice(0, 12)}… is not logged`);
    // Not vacuous: the configuration (with the keys) and that URL were logged, censored.
    const config = srv.logs().find((l) => l.msg === 'configuration')?.config as { llm: { apiKey: string }; embed: { apiKey: string } };
    assert.equal(config.llm.apiKey, '[redacted]');
    assert.equal(config.embed.apiKey, '[redacted]');
    assert.ok(srv.logs().some((l) => (l.req as { url?: string } | undefined)?.url === '/v1/kbs?api_key=[redacted]'));
  });

  test('/readyz names an open provider breaker, and recovers when it closes', async () => {
    fake.setBehavior({ chat: { down: true } });
    const failed = await postJson(`${srv.url}/v1/kbs/default/query`, { query: 'a question while the model is down' });
    assert.ok(failed.status >= 500, `query failed: ${failed.status}`);
    const res = await fetch(`${srv.url}/readyz`);
    const body = (await res.json()) as { error: { message: string }; checks: Record<string, string> };
    assert.equal(res.status, 503);
    assert.equal(body.checks.provider_llm, 'failed');
    assert.equal(body.checks.store, 'ok');
    assert.match(body.error.message, /provider_llm \(circuit breaker open\)/);
    fake.setBehavior({ chat: { down: false } });
    // Half-open lets a probe through: ready again.
    await waitFor(async () => (await fetch(`${srv.url}/readyz`)).status === 200, { timeoutMs: 10_000, what: 'ready after the breaker reset' });
  });

  test('/readyz is 503 naming the store while the database is locked by someone else, and 200 once released', async () => {
    const intruder = new Database(join(srv.dataDir, 'ragd.db'));
    try {
      intruder.exec('BEGIN EXCLUSIVE');
      const res = await fetch(`${srv.url}/readyz`);
      const body = (await res.json()) as { error: { code: string; message: string }; checks: Record<string, string> };
      assert.equal(res.status, 503);
      assert.equal(body.error.code, 'not_ready');
      assert.notEqual(body.checks.store, 'ok');
      assert.match(body.error.message, /\bstore\b/);
      assert.equal((await fetch(`${srv.url}/healthz`)).status, 200, 'liveness does not depend on the store');
      intruder.exec('ROLLBACK');
    } finally {
      intruder.close();
    }
    await waitFor(async () => (await fetch(`${srv.url}/readyz`)).status === 200, { timeoutMs: 20_000, what: 'ready after the lock is released' });
  });
});
