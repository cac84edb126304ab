import type { Release, SlotCounter } from '../../../ports/limits.js';
import type { RedisLeases } from './redis-leases.js';

const NOTHING_HELD: Release = () => undefined;

/**
 * The cluster SlotCounter: a tenant's open queries and event streams counted in Redis, so the
 * limit holds across every API node and worker. Each slot is an expiring lease (see
 * RedisLeases): a node that dies holding slots gives them back when its leases lapse.
 */
export class RedisSlotCounter implements SlotCounter {
  constructor(private readonly leases: RedisLeases) {}

  async take(key: string, max: number | null): Promise<Release | null> {
    // No cap: nothing to enforce, so no round trip to Redis (and no count either).
    if (max === null) return NOTHING_HELD;
    const answer = await this.leases.take(key, max);
    return 'release' in answer ? answer.release : null;
  }

  held(key: string): Promise<number> {
    return this.leases.count(key);
  }
}
