/**
 * Issue 16 item 2: per-tenant limits are decided by the route that matched, not by the raw URL.
 * The router decodes `/%761/kbs` to `/v1/kbs`; a `startsWith('/v1/')` test let such requests past
 * every limit. Each limit is driven through encoded, doubled-slash and mixed-case spellings.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { assertApiError, call, startTestServer, type TestServer } from '../support/server.js';

/** Spellings of `/v1/kbs…` a client can send that are not the literal prefix `/v1/`. */
const SPELLINGS = ['/%761/kbs', '/v%31/kbs', '//v1/kbs', '/V1/kbs', '/v1//kbs', '/%76%31/kbs'];

describe('requests per minute, however the path is spelled', { timeout: 60_000 }, () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ RAGD_TENANT_RPM: '5' });
  });
  after(async () => {
    await srv?.close();
  });

  test('encoded, doubled-slash and mixed-case paths all count against the limit', async () => {
    const statuses: number[] = [];
    for (const path of SPELLINGS) statuses.push((await call(`${srv.url}${path}`)).status);
    // Five went through (whatever their answer), every later one is refused.
    assert.ok(statuses.slice(5).every((s) => s === 429), `statuses: ${statuses}`);
    for (const path of SPELLINGS) assertApiError(await call(`${srv.url}${path}`), 429, 'rate_limited');
    assertApiError(await call(`${srv.url}/v1/kbs`), 429, 'rate_limited');
    // Operator endpoints stay exempt by route, not by prefix.
    assert.equal((await call(`${srv.url}/healthz`)).status, 200);
    assert.equal((await call(`${srv.url}/readyz`)).status, 200);
  });
});

describe('event streams at once, however the path is spelled', { timeout: 60_000 }, () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ RAGD_TENANT_MAX_EVENT_STREAMS: '1' });
  });
  after(async () => {
    await srv?.close();
  });

  const open = (path: string) =>
    new Promise<{ ws?: WebSocket; status?: number }>((resolve, reject) => {
      const ws = new WebSocket(`${srv.url.replace(/^http/, 'ws')}${path}`);
      ws.once('message', () => resolve({ ws }));
      ws.once('unexpected-response', (_req, res) => {
        resolve({ status: res.statusCode });
        res.resume();
      });
      ws.once('error', reject);
    });

  test('a second WebSocket through an encoded path is 429', async () => {
    const first = await open('/v1/kbs/default/events');
    assert.ok(first.ws, 'the first stream opens');
    for (const path of ['/%761/kbs/default/events', '/v1/kbs/%64efault/events', '/v1/kbs/default/%65vents']) {
      const extra = await open(path);
      extra.ws?.close();
      assert.equal(extra.status, 429, `${path} must be refused while one stream is open`);
    }
    first.ws!.close();
  });
});
