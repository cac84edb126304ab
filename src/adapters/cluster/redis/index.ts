import type { Redis } from 'ioredis';
import type { RateLimiterFactory, SharedProviderCapFactory, SlotCounter } from '../../../ports/limits.js';
import type { TicketStore } from '../../../ports/ticket-store.js';
import type { Principal } from '../../../services/auth-service.js';
import { connectRedis, type RedisConnectionOptions } from './connection.js';
import { RedisEventBus } from './redis-event-bus.js';
import { RedisLeases } from './redis-leases.js';
import { redisProviderCaps } from './redis-provider-caps.js';
import { redisRateLimiter } from './redis-rate-limiter.js';
import { RedisSlotCounter } from './redis-slot-counter.js';
import { RedisTicketStore } from './redis-ticket-store.js';

export interface RedisSharedStateOptions extends RedisConnectionOptions {
  /** RAGD_REDIS_URL. */
  url: string;
  /** Namespace of every key and channel (default `ragd`); the nodes of one deployment share it. */
  prefix?: string;
  /** How long a dead process's slots stay taken (default 30 s; see RedisLeases). */
  leaseMs?: number;
  /** Failures that are absorbed rather than thrown (a dropped event, a lease not renewed), for the log. */
  onError?: (err: unknown, what: string) => void;
}

/** What every cluster process shares through Redis, besides the job queue. */
export interface RedisSharedState {
  /** The command connection (bounded: no offline queue, a command timeout); for readiness checks. */
  redis: Redis;
  bus: RedisEventBus;
  /** Tenants' open queries and event streams (TenantAdmission's `slots`). */
  slots: SlotCounter;
  /** Tenants' requests per minute (the tenant limits plugin's `rateLimiter`). */
  rateLimiter: RateLimiterFactory;
  /** Each model provider's caps (ProviderLane's `shared`). */
  providerCaps: SharedProviderCapFactory;
  /** Stream tickets (StreamTickets' store). */
  tickets: TicketStore<Principal>;
  /** Closes the bus, hands back the slots this process holds, then the connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * Connects to Redis and builds the cluster's shared events, limits and tickets on one command
 * connection (the bus adds its own subscriber connection). Fails with a clear error when Redis
 * does not answer within the connect timeout.
 */
export async function connectRedisSharedState(opts: RedisSharedStateOptions): Promise<RedisSharedState> {
  const prefix = opts.prefix ?? 'ragd';
  const redis = await connectRedis(opts.url, opts);
  const onError = opts.onError ?? (() => undefined);
  // ioredis reports each failed reconnection attempt (at most every 2 s while Redis is away).
  redis.on('error', (err) => onError(err, 'redis connection'));
  let bus: RedisEventBus;
  try {
    bus = await RedisEventBus.connect({ redis, prefix, onError });
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  const leases = new RedisLeases({ redis, prefix, onError, ...(opts.leaseMs !== undefined ? { leaseMs: opts.leaseMs } : {}) });
  let closing: Promise<void> | null = null;
  return {
    redis,
    bus,
    slots: new RedisSlotCounter(leases),
    rateLimiter: redisRateLimiter(redis, prefix),
    providerCaps: redisProviderCaps(leases),
    tickets: new RedisTicketStore<Principal>(redis, prefix),
    close: () =>
      (closing ??= (async () => {
        // Every step runs even if one fails.
        await Promise.allSettled([bus.close(), leases.close()]);
        await redis.quit().catch(() => redis.disconnect());
      })()),
  };
}
