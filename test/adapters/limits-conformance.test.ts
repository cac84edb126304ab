/**
 * The limits conformance suite on the embedded counters and on Redis (two nodes, each with its
 * own connection and its own RedisLeases, sharing one prefix). Then what only the Redis ones must
 * meet: a crashed node's slots free themselves, and a Redis that does not answer turns into a
 * quick 503 with the error body, not a hang.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { type RedisSharedLimits, redisSharedLimits } from '../../src/adapters/cluster/redis/index.js';
import { RedisLeases } from '../../src/adapters/cluster/redis/redis-leases.js';
import { redisRateLimiter } from '../../src/adapters/cluster/redis/redis-rate-limiter.js';
import { RedisSlotCounter } from '../../src/adapters/cluster/redis/redis-slot-counter.js';
import { MemorySlotCounter } from '../../src/adapters/embedded/memory-slot-counter.js';
import { errorsPlugin } from '../../src/http/plugins/errors.js';
import { memoryRateLimiter, tenantLimitsPlugin } from '../../src/http/plugins/tenant-limits.js';
import type { RateLimiterFactory, SlotCounter } from '../../src/ports/limits.js';
import type { TenantLimits, TenantLimitsSource } from '../../src/ports/tenant-limits.js';
import { QUERY_ADMISSION, STREAM_ADMISSION, TenantAdmission } from '../../src/services/limits/tenant-admission.js';
import { UNLIMITED } from '../../src/services/tenant-limits-source.js';
import { describeLimits } from '../contract/limits.contract.js';
import { deleteKeys, RedisProxy, testPrefix, testRedis } from '../support/redis.js';

describeLimits('memory (embedded)', async () => {
  // One process: the plugin keeps one limiter per limit value, and so does this node.
  const limiters = new Map<number, ReturnType<RateLimiterFactory>>();
  const rateLimiter: RateLimiterFactory = (rpm) => limiters.get(rpm) ?? limiters.set(rpm, memoryRateLimiter(rpm)).get(rpm)!;
  const node = { slots: new MemorySlotCounter(), rateLimiter };
  return { a: node, b: node, close: async () => undefined };
});

describeLimits('Redis (cluster, two nodes)', async () => {
  const prefix = testPrefix('limits');
  const conns = [await testRedis(), await testRedis()];
  const leases = conns.map((redis) => new RedisLeases({ redis, prefix }));
  const [a, b] = conns.map((redis, i) => ({ slots: new RedisSlotCounter(leases[i]!), rateLimiter: redisRateLimiter(redis, prefix) }));
  return {
    a: a!,
    b: b!,
    close: async () => {
      await Promise.all(leases.map((l) => l.close()));
      await deleteKeys(conns[0]!, prefix);
      await Promise.all(conns.map((c) => c.quit()));
    },
  };
});

describe('Redis limits when a node or Redis goes away', () => {
  const prefix = testPrefix('limits-outage');
  let proxy: RedisProxy;
  let direct: Redis;
  let viaProxy: Redis;
  let healthy: RedisLeases;
  let cutOff: RedisLeases;

  before(async () => {
    proxy = await RedisProxy.start();
    direct = await testRedis();
    viaProxy = await testRedis({ commandTimeoutMs: 300 }, proxy.url);
    healthy = new RedisLeases({ redis: direct, prefix, leaseMs: 600 });
    cutOff = new RedisLeases({ redis: viaProxy, prefix, leaseMs: 600 });
  });
  after(async () => {
    await Promise.all([healthy.close(), cutOff.close()]);
    await deleteKeys(direct, prefix);
    viaProxy.disconnect();
    await direct.quit();
    await proxy.cut();
  });

  it('a node that vanishes holding slots gives them back once its leases lapse; a live holder keeps its own', async () => {
    const k = `tenant-${randomUUID()}`;
    const [mine, crashed] = [new RedisSlotCounter(healthy), new RedisSlotCounter(cutOff)];
    const kept = await mine.take(k, 3);
    assert.ok(await crashed.take(k, 3));
    assert.ok(await crashed.take(k, 3));
    assert.equal(await mine.take(k, 3), null, 'full');
    await proxy.cut(); // the holder can neither renew nor release now: as good as dead
    const deadline = Date.now() + 10_000;
    let freed: unknown = null;
    while (freed === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      freed = await mine.take(k, 3);
    }
    assert.equal(typeof freed, 'function', 'the vanished node\'s slots expired');
    // Two lease periods later the renewed slot of the live node still counts: 2 held, not 0.
    await new Promise((r) => setTimeout(r, 1_300));
    assert.equal(await mine.held(k), 2);
    kept!();
    (freed as () => void)();
    await proxy.restore();
  });

  describe('over HTTP, with Redis unreachable', () => {
    let app: FastifyInstance;
    const LIMITS: Partial<TenantLimits> = { requestsPerMinute: null, maxConcurrentQueries: 2 };
    const source: TenantLimitsSource = { limitsFor: async () => ({ ...UNLIMITED, ...LIMITS }) };

    before(async () => {
      app = await limitedApp(source, new RedisSlotCounter(cutOff), redisRateLimiter(viaProxy, prefix));
    });
    after(() => app.close());

    it('answers 503 shared_state_unavailable at once for a counted route and for the per-minute budget', async () => {
      await proxy.cut();
      const query = await app.inject({ url: '/v1/query' });
      assert.equal(query.statusCode, 503);
      assert.equal(query.json().error.code, 'shared_state_unavailable');
      assert.equal(typeof query.json().error.message, 'string');
      assert.equal(query.headers['retry-after'], '1');

      LIMITS.requestsPerMinute = 100;
      const ping = await app.inject({ url: '/v1/ping' });
      assert.equal(ping.statusCode, 503);
      assert.equal(ping.json().error.code, 'shared_state_unavailable');
      LIMITS.requestsPerMinute = null;
    });

    it('answers 503 within the command timeout when Redis holds the connection but never answers', async () => {
      await proxy.restore();
      // Wait until the connection is back, then make Redis go silent behind it.
      const deadline = Date.now() + 10_000;
      while (viaProxy.status !== 'ready' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal((await app.inject({ url: '/v1/query' })).statusCode, 200, 'healthy again');
      proxy.blackhole();
      const query = await app.inject({ url: '/v1/query' }); // a hang would trip the test timeout
      assert.equal(query.statusCode, 503);
      assert.equal(query.json().error.code, 'shared_state_unavailable');
      await proxy.restore();
    });
  });
});

describe('two API nodes built by redisSharedLimits share a tenant\'s limits over HTTP', () => {
  const prefix = testPrefix('limits-http');
  const LIMITS: Partial<TenantLimits> = { requestsPerMinute: 5, maxConcurrentQueries: 2 };
  const source: TenantLimitsSource = { limitsFor: async () => ({ ...UNLIMITED, ...LIMITS }) };
  let conns: Redis[];
  let shared: RedisSharedLimits[];
  let nodes: FastifyInstance[];

  before(async () => {
    conns = [await testRedis(), await testRedis()];
    shared = conns.map((redis) => redisSharedLimits({ redis, prefix }));
    nodes = await Promise.all(shared.map((s) => limitedApp(source, s.slots, s.rateLimiter)));
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await Promise.all(shared.map((s) => s.close()));
    await deleteKeys(conns[0]!, prefix);
    await Promise.all(conns.map((c) => c.quit()));
  });

  it('a requests-per-minute limit of 5 admits 5 across both nodes, not 5 on each', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) codes.push((await nodes[i % 2]!.inject({ url: '/v1/ping' })).statusCode);
    assert.deepEqual(codes, [200, 200, 200, 200, 200, 429, 429, 429]);
  });

  it('two queries running on node A leave node B no room under a limit of 2, until one ends', async () => {
    LIMITS.requestsPerMinute = null;
    try {
      const [a, b] = nodes as [FastifyInstance, FastifyInstance];
      const held = [a.inject({ url: '/v1/query?holdMs=400' }), a.inject({ url: '/v1/query?holdMs=1500' })];
      const deadline = Date.now() + 5_000;
      while ((await shared[1]!.slots.held('maxConcurrentQueries:acme')) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const refused = await b.inject({ url: '/v1/query' });
      assert.equal(refused.statusCode, 429);
      assert.equal(refused.json().error.code, 'too_many_queries');
      assert.equal((await held[0]!).statusCode, 200);
      assert.equal((await b.inject({ url: '/v1/query' })).statusCode, 200, 'room again once one has ended');
      assert.equal((await held[1]!).statusCode, 200);
    } finally {
      LIMITS.requestsPerMinute = 5;
    }
  });
});

/** The tenant limits plugin as the API mounts it, with every request one tenant. */
async function limitedApp(source: TenantLimitsSource, slots: SlotCounter, rateLimiter: RateLimiterFactory): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(errorsPlugin);
  await app.register(
    fp(
      async (a) => {
        a.decorateRequest('tenantId', '');
        a.addHook('onRequest', async (request) => {
          request.tenantId = 'acme';
        });
      },
      { name: 'ragd-tenant' },
    ),
  );
  const queries = new TenantAdmission(source, QUERY_ADMISSION, { slots });
  await app.register(tenantLimitsPlugin, { source, queries, streams: new TenantAdmission(source, STREAM_ADMISSION, { slots }), rateLimiter });
  app.get('/v1/ping', async () => ({ ok: true }));
  app.get<{ Querystring: { holdMs?: string } }>('/v1/query', { config: { tenantLimit: 'query' } }, async (request) => {
    await new Promise((r) => setTimeout(r, Number(request.query.holdMs ?? 0)));
    return { ok: true };
  });
  return app;
}
