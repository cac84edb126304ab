import type { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { RateLimiterFactory } from '../../../ports/limits.js';

/**
 * Requests per minute counted in Redis (rate-limiter-flexible), so every API node spends from one
 * budget per tenant. `rejectIfRedisNotReady`: while the connection is down a request is refused
 * at once (the HTTP guard answers 503) instead of waiting for a reconnect.
 */
export function redisRateLimiter(redis: Redis, prefix: string): RateLimiterFactory {
  return (points) =>
    new RateLimiterRedis({ storeClient: redis, points, duration: 60, keyPrefix: `${prefix}:rpm:${points}`, rejectIfRedisNotReady: true });
}
