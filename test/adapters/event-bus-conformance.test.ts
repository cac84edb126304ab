/**
 * The EventBus conformance suite on the embedded bus and on Redis pub/sub (two RedisEventBus
 * instances with their own connections: two nodes). Then what only the Redis bus can meet: an
 * outage of Redis as one node sees it (a proxy cut in front of the real server).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisEventBus } from '../../src/adapters/cluster/redis/redis-event-bus.js';
import { MemoryEventBus } from '../../src/adapters/embedded/memory-event-bus.js';
import { describeEventBus, Heard, taskEvent } from '../contract/event-bus.contract.js';
import { RedisProxy, testPrefix, testRedis } from '../support/redis.js';

describeEventBus('memory (embedded)', async () => {
  const bus = new MemoryEventBus();
  return { a: bus, b: bus, close: () => bus.close() };
});

describeEventBus('Redis pub/sub (cluster, two nodes)', async () => {
  const prefix = testPrefix('bus');
  const [ra, rb] = [await testRedis(), await testRedis()];
  const a = await RedisEventBus.connect({ redis: ra, prefix });
  const b = await RedisEventBus.connect({ redis: rb, prefix });
  return {
    a,
    b,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
      await Promise.all([ra.quit(), rb.quit()]);
    },
  };
});

describe('RedisEventBus and foreign messages on its channels', () => {
  it('drops a message that is not a task event, or names another tenant than its channel, and goes on delivering', async () => {
    const prefix = testPrefix('bus-foreign');
    const redis = await testRedis();
    const bus = await RedisEventBus.connect({ redis, prefix });
    try {
      const [tenant, task] = [`t-${randomUUID()}`, `task-${randomUUID()}`];
      const heard = new Heard();
      const off = bus.subscribeTask(tenant, task, heard.handler);
      const channel = `${prefix}:ev:${tenant}:kb`;
      await redis.publish(channel, 'not json');
      await redis.publish(channel, JSON.stringify({ tenantId: tenant, kbId: 'kb' }));
      await redis.publish(`${prefix}:ev:other-tenant:kb`, JSON.stringify(taskEvent(tenant, 'kb', task, 1)));
      await redis.publish(channel, JSON.stringify(taskEvent(tenant, 'kb', task, 2)));
      const events = await heard.until(1);
      off();
      assert.deepEqual(events.map((e) => e.task.version), [2]);
    } finally {
      await bus.close();
      await redis.quit();
    }
  });
});

describe('RedisEventBus when Redis goes away', () => {
  const prefix = testPrefix('bus-outage');
  let proxy: RedisProxy;
  let direct: Redis;
  let viaProxy: Redis;
  let healthy: RedisEventBus;
  let cutOff: RedisEventBus;
  const errors: string[] = [];

  before(async () => {
    proxy = await RedisProxy.start();
    direct = await testRedis();
    viaProxy = await testRedis({ commandTimeoutMs: 300 }, proxy.url);
    healthy = await RedisEventBus.connect({ redis: direct, prefix });
    cutOff = await RedisEventBus.connect({ redis: viaProxy, prefix, publishTimeoutMs: 300, onError: (_e, what) => errors.push(what) });
  });
  after(async () => {
    await Promise.all([healthy.close(), cutOff.close()]);
    viaProxy.disconnect();
    await direct.quit();
    await proxy.cut();
  });

  it('a publish while Redis is unreachable returns (the event is reported, not thrown), and the bus heals when Redis is back', async () => {
    const [tenant, task] = [`t-${randomUUID()}`, `task-${randomUUID()}`];
    const heardByCutOff = new Heard();
    const off = cutOff.subscribeTask(tenant, task, heardByCutOff.handler);

    await proxy.cut();
    await cutOff.publish(taskEvent(tenant, 'kb', task, 1)); // resolves: a hang would trip the test timeout
    assert.ok(errors.some((w) => w.includes(task)), 'the lost event is reported');

    proxy.blackhole();
    await proxy.restore();
    proxy.blackhole(); // connections open again but Redis never answers: the bounded wait is what returns
    await cutOff.publish(taskEvent(tenant, 'kb', task, 2));
    assert.ok(errors.filter((w) => w.includes(task)).length >= 2);

    await proxy.restore();
    // The subscriber connection re-subscribes by itself; keep publishing until this node hears one.
    const deadline = Date.now() + 10_000;
    while (heardByCutOff.events.length === 0 && Date.now() < deadline) {
      await healthy.publish(taskEvent(tenant, 'kb', task, 3));
      await new Promise((r) => setTimeout(r, 100));
    }
    off();
    assert.equal(heardByCutOff.events[0]?.task.version, 3, 'events reach the node again after the outage');
  });
});
