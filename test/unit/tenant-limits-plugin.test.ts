/**
 * The limits are keyed by tenant. On this branch every HTTP request is the `default` tenant, so
 * this drives the plugin with a stand-in tenant resolver (the `x-tenant` header) to show that one
 * tenant at its limit leaves another untouched.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { errorsPlugin } from '../../src/http/plugins/errors.js';
import { tenantLimitsPlugin } from '../../src/http/plugins/tenant-limits.js';
import type { TenantLimits, TenantLimitsSource } from '../../src/ports/tenant-limits.js';
import { QUERY_ADMISSION, STREAM_ADMISSION, TenantAdmission } from '../../src/services/limits/tenant-admission.js';
import { UNLIMITED } from '../../src/services/tenant-limits-source.js';

const LIMITS: Record<string, Partial<TenantLimits>> = {
  small: { requestsPerMinute: 2, maxConcurrentQueries: 1 },
  big: { requestsPerMinute: 100, maxConcurrentQueries: 5 },
};

const source: TenantLimitsSource = {
  limitsFor: async (t) => ({ ...UNLIMITED, ...LIMITS[t] }),
};

async function buildApp(queries: TenantAdmission): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(errorsPlugin);
  await app.register(
    fp(
      async (a) => {
        a.decorateRequest('tenantId', '');
        a.addHook('onRequest', async (request) => {
          request.tenantId = String(request.headers['x-tenant'] ?? 'default');
        });
      },
      { name: 'ragd-tenant' },
    ),
  );
  await app.register(tenantLimitsPlugin, { source, queries, streams: new TenantAdmission(source, STREAM_ADMISSION) });
  app.get('/v1/ping', async () => ({ ok: true }));
  app.get('/healthz', async () => ({ ok: true }));
  return app;
}

describe('tenant limits are per tenant', () => {
  it('one tenant over its requests per minute does not slow another', async () => {
    const app = await buildApp(new TenantAdmission(source, QUERY_ADMISSION));
    const get = (tenant: string, url = '/v1/ping') => app.inject({ url, headers: { 'x-tenant': tenant } });
    assert.equal((await get('small')).statusCode, 200);
    assert.equal((await get('small')).statusCode, 200);
    const refused = await get('small');
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.json().error.code, 'rate_limited');
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    for (let i = 0; i < 10; i++) assert.equal((await get('big')).statusCode, 200, 'another tenant keeps its own budget');
    assert.equal((await get('unlimited')).headers['x-ratelimit-limit'], undefined, 'no limit, no counting');
    assert.equal((await get('small', '/healthz')).statusCode, 200, 'health checks are not counted');
    await app.close();
  });

  it('query slots are counted per tenant and released exactly once', async () => {
    const queries = new TenantAdmission(source, QUERY_ADMISSION);
    const release = await queries.admit('small');
    await assert.rejects(queries.admit('small'), (err: { status: number; code: string; headers: Record<string, string> }) => {
      assert.equal(err.status, 429);
      assert.equal(err.code, 'too_many_queries');
      assert.equal(err.headers['retry-after'], '1');
      return true;
    });
    const others = await Promise.all(Array.from({ length: 5 }, () => queries.admit('big')));
    assert.equal(queries.inUse('big'), 5);
    release();
    release();
    assert.equal(queries.inUse('small'), 0, 'a second release does not free a slot it does not hold');
    const again = await queries.admit('small');
    again();
    for (const r of others) r();
    assert.equal(queries.inUse('big'), 0);
  });
});
