/**
 * The TicketStore conformance suite on the embedded store and on Redis (two nodes with their own
 * connections sharing a prefix), and the 503 a ticket gets when Redis does not answer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RedisTicketStore } from '../../src/adapters/cluster/redis/redis-ticket-store.js';
import { MemoryTicketStore } from '../../src/adapters/embedded/memory-ticket-store.js';
import { AppError } from '../../src/domain/errors.js';
import type { Principal } from '../../src/services/auth-service.js';
import { StreamTickets } from '../../src/services/stream-tickets.js';
import { describeTicketStore } from '../contract/ticket-store.contract.js';
import { deleteKeys, RedisProxy, testPrefix, testRedis } from '../support/redis.js';

describeTicketStore('memory (embedded)', async () => {
  const store = new MemoryTicketStore<Principal>();
  return { a: store, b: store, close: async () => undefined };
});

describeTicketStore('Redis (cluster, two nodes)', async () => {
  const prefix = testPrefix('tickets');
  const [ra, rb] = [await testRedis(), await testRedis()];
  return {
    a: new RedisTicketStore<Principal>(ra, prefix),
    b: new RedisTicketStore<Principal>(rb, prefix),
    close: async () => {
      await deleteKeys(ra, prefix);
      await Promise.all([ra.quit(), rb.quit()]);
    },
  };
});

describe('RedisTicketStore when Redis is away', () => {
  it('minting and redeeming answer 503 shared_state_unavailable at once', async () => {
    const proxy = await RedisProxy.start();
    const redis = await testRedis({ commandTimeoutMs: 300 }, proxy.url);
    try {
      const tickets = new StreamTickets(new RedisTicketStore<Principal>(redis, testPrefix('tickets-outage')));
      await proxy.cut();
      const is503 = (err: unknown) => err instanceof AppError && err.status === 503 && err.code === 'shared_state_unavailable';
      await assert.rejects(tickets.mint({ kind: 'tenant', tenantId: 't', keyPrefix: null, via: 'key' }), is503);
      await assert.rejects(Promise.resolve(tickets.redeem('rst_x')), is503);
    } finally {
      redis.disconnect();
      await proxy.cut();
    }
  });
});
