/**
 * Issue 16 item 6: in open mode (no credentials) a web page must not drive ragd. A foreign
 * `Host` (DNS rebinding) is refused unless RAGD_ALLOWED_HOSTS names it; a cross-origin
 * state-changing request or WebSocket upgrade is refused; same-origin browser requests (the web
 * console served by ragd itself) and clients that send no Origin keep working.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../support/server.js';

function raw(url: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const upgrade = (srv: TestServer, headers: Record<string, string>) =>
  new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`${srv.url.replace(/^http/, 'ws')}/v1/kbs/default/events`, { headers });
    ws.once('message', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('error', reject);
  });

describe('open mode: Host and Origin', { timeout: 60_000 }, () => {
  let srv: TestServer;
  let port: string;
  before(async () => {
    srv = await startTestServer({ RAGD_ALLOWED_HOSTS: 'ragd.internal' });
    port = new URL(srv.url).port;
  });
  after(async () => {
    await srv?.close();
  });

  test('a foreign Host is refused; loopback names and RAGD_ALLOWED_HOSTS are served', async () => {
    const foreign = await raw(srv.url, 'GET', '/v1/kbs', { host: `evil.example:${port}` });
    assert.equal(foreign.status, 403);
    assert.equal(JSON.parse(foreign.body).error.code, 'forbidden_host');
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, `ragd.internal:${port}`]) {
      assert.equal((await raw(srv.url, 'GET', '/v1/kbs', { host })).status, 200, host);
    }
    // Probes and Prometheus carry whatever Host the orchestrator sends.
    assert.equal((await raw(srv.url, 'GET', '/healthz', { host: `10.1.2.3:${port}` })).status, 200);
    assert.equal((await raw(srv.url, 'GET', '/metrics', { host: `10.1.2.3:${port}` })).status, 200);
  });

  test('a cross-origin POST is refused; same-origin and Origin-less ones are served', async () => {
    const body = JSON.stringify({ name: 'a.txt', text: 'hello 你好' });
    const json = { 'content-type': 'application/json', host: `127.0.0.1:${port}` };
    const cross = await raw(srv.url, 'POST', '/v1/kbs/default/documents', { ...json, origin: 'https://evil.example' }, body);
    assert.equal(cross.status, 403);
    assert.equal(JSON.parse(cross.body).error.code, 'forbidden_origin');
    assert.equal((await raw(srv.url, 'POST', '/v1/kbs/default/documents', { ...json, origin: 'null' }, body)).status, 403);
    assert.equal((await raw(srv.url, 'POST', '/v1/kbs/default/documents', { ...json, origin: `http://127.0.0.1:${port}` }, body)).status, 202);
    assert.equal((await raw(srv.url, 'POST', '/v1/kbs/default/documents', json, JSON.stringify({ name: 'b.txt', text: 'no origin' }))).status, 202);
    // Reading is harmless cross-origin (the browser does not let the page see the answer).
    assert.equal((await raw(srv.url, 'GET', '/v1/kbs', { host: `127.0.0.1:${port}`, origin: 'https://evil.example' })).status, 200);
  });

  test('a cross-site WebSocket upgrade is refused; a same-origin one opens', async () => {
    assert.equal(await upgrade(srv, { origin: 'https://evil.example' }), 403);
    assert.equal(await upgrade(srv, { origin: `http://127.0.0.1:${port}` }), 101);
  });
});
