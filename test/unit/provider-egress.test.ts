/**
 * Issue 16 item 5: provider URLs a tenant sets cannot reach internal hosts. Literal private
 * addresses and credentials are refused when saved; names that resolve to private addresses are
 * refused at connect time; redirects are not followed; upstream bodies are never echoed.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { checkProviderUrl, egressFetch } from '../../src/providers/egress.js';
import { messageOf } from '../../src/providers/upstream-errors.js';

describe('provider URL policy', () => {
  it('refuses metadata, private, loopback, integer and hex IPs, and credentials', () => {
    for (const url of [
      'http://169.254.169.254/latest/meta-data', 'http://10.1.2.3/v1', 'http://192.168.0.10/v1', 'http://172.20.0.1/v1',
      'http://127.0.0.1:8080/v1', 'http://2130706433/v1', 'http://0x7f000001/v1', 'http://[::1]/v1', 'http://[::ffff:127.0.0.1]/v1',
      'http://[fd00::1]/v1', 'http://localhost:9/v1', 'http://0.0.0.0/v1',
    ]) {
      assert.throws(() => checkProviderUrl(url, false), (e: { code?: string }) => e.code === 'provider_url_not_allowed', url);
    }
    assert.throws(() => checkProviderUrl('https://user:pass@api.example.com/v1', false), (e: { code?: string }) => e.code === 'invalid_provider_url');
    assert.throws(() => checkProviderUrl('https://user:pass@api.example.com/v1', true), (e: { code?: string }) => e.code === 'invalid_provider_url');
    assert.throws(() => checkProviderUrl('file:///etc/passwd', true));
    assert.doesNotThrow(() => checkProviderUrl('https://api.openai.com/v1', false));
    assert.doesNotThrow(() => checkProviderUrl('http://127.0.0.1:8080/v1', true), 'RAGD_PROVIDER_ALLOW_PRIVATE lets a private URL through');
  });

  it('never repeats an upstream body in a message', () => {
    const apiError = Object.assign(new Error('400 {"error":{"message":"internal host db-7.corp: secret detail"}}'), { status: 400 });
    assert.doesNotMatch(messageOf(apiError), /secret|db-7/);
    assert.match(messageOf(apiError), /400/);
  });
});

describe('connect-time egress checks', () => {
  let server: Server;
  let port: number;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://example.invalid/elsewhere' });
        return res.end();
      }
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('a name that resolves to a private address is refused when connecting', async () => {
    await assert.rejects(egressFetch(false)(`http://localhost:${port}/`), (e: Error & { cause?: { code?: string } }) => {
      assert.equal(e.cause?.code, 'EPROVIDEREGRESS', String(e.cause));
      return true;
    });
    await assert.rejects(egressFetch(false)(`http://127.0.0.1:${port}/`));
  });

  it('with private addresses allowed it connects, but does not follow redirects', async () => {
    const ok = await egressFetch(true)(`http://localhost:${port}/`);
    assert.equal(ok.status, 200);
    await assert.rejects(egressFetch(true)(`http://127.0.0.1:${port}/redirect`));
  });
});
