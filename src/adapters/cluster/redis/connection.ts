import { Redis, type RedisOptions } from 'ioredis';

/**
 * Redis connections for the cluster adapters, set up so that no caller waits on Redis for long:
 *
 * - `enableOfflineQueue: false`: while the connection is down a command fails at once instead of
 *   queueing until Redis is back (the API answers 503 rather than hanging);
 * - `commandTimeout`: a command sent to a Redis that stopped answering (paused, overloaded)
 *   fails after that long;
 * - reconnects forever with a capped backoff, so the adapters heal when Redis returns.
 *
 * Redis db 0 is shared with BullMQ and other deployments' keys: every adapter takes a key prefix.
 */
export interface RedisConnectionOptions {
  /** Longest wait for one command (default 1 s). */
  commandTimeoutMs?: number;
  /** Longest wait for the first connection (default 5 s); `connectRedis` fails after it. */
  connectTimeoutMs?: number;
}

export function redisOptions(opts: RedisConnectionOptions = {}): RedisOptions {
  return {
    enableOfflineQueue: false,
    commandTimeout: opts.commandTimeoutMs ?? 1_000,
    connectTimeout: opts.connectTimeoutMs ?? 5_000,
    // Commands are not queued, so there is nothing to retry per request.
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
    lazyConnect: true,
  };
}

/** A connection that is ready for commands, or a clear error after `connectTimeoutMs`. */
export async function connectRedis(url: string, opts: RedisConnectionOptions = {}): Promise<Redis> {
  const redis = new Redis(url, redisOptions(opts));
  // Reconnection errors are reported by whoever watches the connection (readiness); an 'error'
  // event without a listener would crash the process.
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new Error(`Redis is not answering at ${redactUrl(url)}: ${(err as Error).message}`);
  }
  return redis;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the configured Redis URL';
  }
}
