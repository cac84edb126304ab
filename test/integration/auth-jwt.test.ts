import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { requestJson, startTestServer, type TestServer } from '../support/server.js';
import { ADMIN_KEY, authed, jsonInit, withAuth } from './auth-support.js';

/*
 * JWT bearer tokens, verified with jose: HS256 with a shared secret, RS256/ES256 from a JWKS URL
 * (served here by a small HTTP server on 127.0.0.1), the tenant taken from a configurable claim.
 */

const SECRET = 'a-shared-jwt-secret-of-enough-length';
const AUDIENCE = 'ragd-api';

async function hs256(claims: Record<string, unknown>, opts: { exp?: string | number; aud?: string; secret?: string } = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setAudience(opts.aud ?? AUDIENCE)
    .setExpirationTime(opts.exp ?? '5m')
    .sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

async function createTenant(url: string, id: string): Promise<void> {
  await requestJson(`${url}/v1/admin/tenants`, withAuth(ADMIN_KEY, jsonInit('POST', { id })));
}

describe('JWT with a shared secret (HS256)', () => {
  let server: TestServer;
  let url: string;

  before(async () => {
    server = await startTestServer({ RAGD_ADMIN_KEY: ADMIN_KEY, RAGD_JWT_SECRET: SECRET, RAGD_JWT_AUDIENCE: AUDIENCE });
    url = server.url;
    await createTenant(url, 'acme');
    await requestJson(`${url}/v1/kbs`, withAuth(await hs256({ tenant: 'acme' }), jsonInit('POST', { id: 'acme-only' })));
  });
  after(async () => server?.close());

  it('a valid token acts as the tenant its claim names', async () => {
    const r = await authed(`${url}/v1/kbs`, await hs256({ tenant: 'acme' }));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.kbs.map((k: { id: string }) => k.id).sort(), ['acme-only', 'default']);
    const other = await authed(`${url}/v1/kbs`, await hs256({ tenant: 'default' }));
    assert.deepEqual(other.body.kbs.map((k: { id: string }) => k.id), ['default'], 'another tenant sees none of acme’s KBs');
    assert.equal((await authed(`${url}/v1/kbs/acme-only`, await hs256({ tenant: 'default' }))).status, 404);
  });

  it('refuses an expired token', async () => {
    const expired = await hs256({ tenant: 'acme' }, { exp: Math.floor(Date.now() / 1000) - 60 });
    const r = await authed(`${url}/v1/kbs`, expired);
    assert.equal(r.status, 401);
    assert.match(r.body.error.message, /exp/);
  });

  it('refuses a token without an expiry', async () => {
    const forever = await new SignJWT({ tenant: 'acme' }).setProtectedHeader({ alg: 'HS256' }).setAudience(AUDIENCE).sign(new TextEncoder().encode(SECRET));
    assert.equal((await authed(`${url}/v1/kbs`, forever)).status, 401);
  });

  it('refuses the wrong audience, a wrong signature, an unknown tenant, a missing claim, and alg none', async () => {
    const cases: [string, string][] = [
      ['wrong audience', await hs256({ tenant: 'acme' }, { aud: 'someone-else' })],
      ['wrong secret', await hs256({ tenant: 'acme' }, { secret: 'not-the-secret-at-all-but-long-enough' })],
      ['unknown tenant', await hs256({ tenant: 'ghost' })],
      ['no tenant claim', await hs256({ sub: 'user-1' })],
      [
        'alg none',
        `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ tenant: 'acme', aud: AUDIENCE, exp: 9e9 })).toString('base64url')}.`,
      ],
    ];
    for (const [what, token] of cases) {
      const r = await authed(`${url}/v1/kbs`, token);
      assert.equal(r.status, 401, what);
    }
  });

  it('a tenant token never opens the admin API', async () => {
    assert.equal((await authed(`${url}/v1/admin/tenants`, await hs256({ tenant: 'acme' }))).status, 401);
  });
});

describe('JWT from a JWKS URL (RS256/ES256) with key rotation', () => {
  let jwksServer: Server;
  let keys: JWK[] = [];
  let server: TestServer;
  let url: string;
  let fetches = 0;

  before(async () => {
    jwksServer = createServer((req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    const port = (jwksServer.address() as AddressInfo).port;
    server = await startTestServer({
      RAGD_ADMIN_KEY: ADMIN_KEY,
      RAGD_JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      RAGD_JWT_TENANT_CLAIM: 'org',
      RAGD_JWT_AUDIENCE: AUDIENCE,
      RAGD_JWT_ISSUER: 'https://issuer.test',
      RAGD_JWT_JWKS_COOLDOWN_MS: '0',
    });
    url = server.url;
    await createTenant(url, 'acme');
  });
  after(async () => {
    await server?.close();
    await new Promise((r) => jwksServer?.close(r));
  });

  async function signer(alg: 'RS256' | 'ES256', kid: string) {
    const pair = await generateKeyPair(alg, { extractable: true });
    const jwk = { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' };
    const sign = (claims: Record<string, unknown>, iss = 'https://issuer.test') =>
      new SignJWT(claims).setProtectedHeader({ alg, kid }).setIssuer(iss).setAudience(AUDIENCE).setExpirationTime('5m').sign(pair.privateKey);
    return { jwk, sign };
  }

  it('accepts tokens of the current key, follows a rotation, and drops the retired key', async () => {
    const first = await signer('RS256', 'k1');
    keys = [first.jwk];
    const t1 = await first.sign({ org: 'acme' });
    assert.equal((await authed(`${url}/v1/kbs`, t1)).status, 200);

    // The issuer rotates: k2 replaces k1. A token naming k2 makes ragd refetch the set.
    const second = await signer('ES256', 'k2');
    keys = [second.jwk];
    const before = fetches;
    const t2 = await second.sign({ org: 'acme' });
    const r2 = await authed(`${url}/v1/kbs`, t2);
    assert.equal(r2.status, 200, JSON.stringify(r2.body));
    assert.ok(fetches > before, 'the JWKS was fetched again for the new key id');

    // k1 is gone from the set: its tokens no longer verify, even unexpired.
    const r1 = await authed(`${url}/v1/kbs`, await first.sign({ org: 'acme' }));
    assert.equal(r1.status, 401);
  });

  it('checks the issuer and takes the tenant from the configured claim', async () => {
    const k = await signer('RS256', 'k3');
    keys = [...keys, k.jwk];
    assert.equal((await authed(`${url}/v1/kbs`, await k.sign({ org: 'acme' }, 'https://evil.test'))).status, 401, 'wrong issuer');
    assert.equal((await authed(`${url}/v1/kbs`, await k.sign({ tenant: 'acme' }))).status, 401, 'the default claim name is not used');
    assert.equal((await authed(`${url}/v1/kbs`, await k.sign({ org: 'acme' }))).status, 200);
  });

  it('refuses an HS256 token when only a JWKS is configured', async () => {
    assert.equal((await authed(`${url}/v1/kbs`, await hs256({ org: 'acme' }))).status, 401);
  });
});
