import type { Redis } from 'ioredis';
import type { RateLimiterFactory, SharedProviderCapFactory, SlotCounter } from '../../../ports/limits.js';
import type { TicketStore } from '../../../ports/ticket-store.js';
import type { Principal } from '../../../services/auth-service.js';
import { RedisLeases } from './redis-leases.js';
import { redisProviderCaps } from './redis-provider-caps.js';
import { redisRateLimiter } from './redis-rate-limiter.js';
import { RedisSlotCounter } from './redis-slot-counter.js';
import { RedisTicketStore } from './redis-ticket-store.js';

export interface RedisSharedLimitsOptions {
  /** The cluster's command connection (connectRedis: bounded, no offline queue); closed by its owner, after `close()`. */
  redis: Redis;
  /** Namespace of every key (RAGD_REDIS_PREFIX); the nodes of one deployment share it. */
  prefix: string;
  /** How long a dead process's slots stay taken (default 30 s; see RedisLeases). */
  leaseMs?: number;
  /** Failures absorbed rather than thrown (a lease not renewed or not released), for the log. */
  onError?: (err: unknown, what: string) => void;
}

/** The limits and tickets every cluster process shares through Redis. */
export interface RedisSharedLimits {
  /** Tenants' open queries and event streams: TenantAdmission's `slots`. */
  slots: SlotCounter;
  /** Tenants' requests per minute: the tenant limits plugin's `rateLimiter`. */
  rateLimiter: RateLimiterFactory;
  /** Each model provider's caps: ProviderLane's `shared`. */
  providerCaps: SharedProviderCapFactory;
  /** Stream tickets: StreamTickets' store. */
  tickets: TicketStore<Principal>;
  /** Stops renewing and hands back the slots this process holds. Idempotent; call before closing the connection. */
  close(): Promise<void>;
}

/**
 * Builds the cluster's shared limits and ticket store on an existing Redis connection (the one
 * the event bus publishes on). A Redis that does not answer in time turns into AppError 503
 * `shared_state_unavailable` from each of them.
 */
export function redisSharedLimits(opts: RedisSharedLimitsOptions): RedisSharedLimits {
  const leases = new RedisLeases({
    redis: opts.redis,
    prefix: opts.prefix,
    ...(opts.leaseMs !== undefined ? { leaseMs: opts.leaseMs } : {}),
    ...(opts.onError ? { onError: opts.onError } : {}),
  });
  return {
    slots: new RedisSlotCounter(leases),
    rateLimiter: redisRateLimiter(opts.redis, opts.prefix),
    providerCaps: redisProviderCaps(leases),
    tickets: new RedisTicketStore<Principal>(opts.redis, opts.prefix),
    close: () => leases.close(),
  };
}
