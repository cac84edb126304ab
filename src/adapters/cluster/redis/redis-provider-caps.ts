import type { SharedProviderCap, SharedProviderCapFactory } from '../../../ports/limits.js';
import type { RedisLeases } from './redis-leases.js';

/**
 * Each model provider's concurrency cap and requests-per-minute budget, counted in Redis and so
 * shared by every API node and worker that calls it. One atomic script takes a slot (an expiring
 * lease: a crashed process's calls stop counting once their leases lapse) and a token of the
 * provider's per-minute bucket together. The lanes keep their own queues and priorities; this
 * only stops the cluster as a whole from exceeding what the provider allows.
 */
export function redisProviderCaps(leases: RedisLeases): SharedProviderCapFactory {
  return ({ key, concurrency, requestsPerMinute }): SharedProviderCap => {
    if (!(concurrency >= 1)) throw new Error(`shared provider cap ${key}: concurrency must be >= 1`);
    const slotKey = `provider:${key}`;
    return { tryTake: () => leases.take(slotKey, concurrency, requestsPerMinute) };
  };
}
