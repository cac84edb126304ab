/**
 * Issue 16 item 8: slow or idle clients cannot hold connections for ever. Headers and bodies
 * that stall are cut off after their (configurable) timeouts, connections from one address are
 * capped, each is logged, and /healthz stays reachable throughout.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { call, startTestServer, type TestServer } from '../support/server.js';

/** Resolves when the server closes the socket; rejects (anti-hang) after `ms`. */
const closedWithin = (socket: Socket, ms: number) =>
  new Promise<string>((resolve, reject) => {
    let seen = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (seen += d));
    const timer = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(seen);
    });
  });

const open = (url: string) =>
  new Promise<Socket>((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const s = connect(Number(port), hostname, () => resolve(s));
    s.once('error', reject);
  });

describe('slow clients', { timeout: 60_000 }, () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({
      RAGD_HEADERS_TIMEOUT_MS: '1000',
      RAGD_BODY_IDLE_TIMEOUT_MS: '1000',
      RAGD_MAX_CONNECTIONS_PER_ADDRESS: '8',
    });
  });
  after(async () => {
    await srv?.close();
  });

  test('a body that stops arriving is cut off; the server keeps serving', async () => {
    const s = await open(srv.url);
    s.write('POST /v1/kbs/default/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"name":"a.txt","text":"');
    await closedWithin(s, 10_000);
    assert.equal((await call(`${srv.url}/healthz`)).status, 200);
  });

  test('headers that never finish are cut off', async () => {
    const s = await open(srv.url);
    s.write('GET /v1/kbs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const answer = await closedWithin(s, 10_000);
    assert.ok(answer === '' || answer.startsWith('HTTP/1.1 408'), answer.slice(0, 80));
  });

  test('connections from one address beyond the cap are refused; others are served again once they close', async () => {
    const held = await Promise.all(Array.from({ length: 8 }, () => open(srv.url)));
    // Keep them busy (a body in progress) so no timeout frees them during the test.
    const extra = await open(srv.url);
    await closedWithin(extra, 5_000);
    for (const s of held) s.destroy();
    const ok = await (async () => {
      for (let i = 0; i < 50; i++) {
        const r = await call(`${srv.url}/healthz`).catch(() => null);
        if (r?.status === 200) return true;
        await new Promise((r2) => setTimeout(r2, 100));
      }
      return false;
    })();
    assert.ok(ok, '/healthz is served once the held connections are gone');
  });
});
