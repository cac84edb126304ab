/**
 * Issue 16, Low items: JWTs with an absurd lifetime are refused (RAGD_JWT_MAX_TTL); knowledge
 * base display names are cleaned like document names.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { loadConfig } from '../../src/config/config.js';
import { JwtVerifier } from '../../src/services/jwt-verifier.js';
import { cleanLabel } from '../../src/services/display-name.js';

const SECRET = 'a-test-secret-of-enough-length-0123456789';
const sign = (exp: number | string) =>
  new SignJWT({ tenant: 'acme' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(exp).sign(new TextEncoder().encode(SECRET));

describe('JWT lifetime', () => {
  it('refuses a token that expires past RAGD_JWT_MAX_TTL from now, accepts one within it', async () => {
    const cfg = loadConfig({ RAGD_JWT_SECRET: SECRET, RAGD_JWT_MAX_TTL: '3600' });
    assert.equal(cfg.jwt.maxTtlSec, 3600);
    const verifier = new JwtVerifier(cfg.jwt);
    assert.equal(await verifier.tenantOf(await sign('30m')), 'acme');
    await assert.rejects(verifier.tenantOf(await sign(Date.UTC(2286, 0, 1) / 1000)), /lifetime|exp/i);
    await assert.rejects(verifier.tenantOf(await sign('2h')), /lifetime|exp/i);
  });

  it('has a default maximum of one day', async () => {
    const cfg = loadConfig({ RAGD_JWT_SECRET: SECRET });
    assert.equal(cfg.jwt.maxTtlSec, 86_400);
    await assert.rejects(new JwtVerifier(cfg.jwt).tenantOf(await sign(Date.UTC(2286, 0, 1) / 1000)));
  });
});

describe('KB display names', () => {
  it('drops NUL, control and bidi-override characters; keeps slashes and every script', () => {
    assert.equal(cleanLabel('Sales\u0000 / EU\u202Egnp.exe'), 'Sales / EUgnp.exe');
    assert.equal(cleanLabel('  知识库\u2066一\u2069  '), '知识库一');
    assert.equal(cleanLabel('\u200f\u0007'), '');
  });
});
