import type { Redis } from 'ioredis';
import { sharedStateUnavailable } from '../../../domain/errors.js';
import type { TicketStore } from '../../../ports/ticket-store.js';

/**
 * The cluster TicketStore: each ticket a Redis key with the ticket's lifetime as its expiry, taken
 * with GETDEL, so it opens a stream once, on whichever API node the client reaches. Redis
 * bounds the memory (keys expire by themselves) and the values are the principals as JSON.
 */
export class RedisTicketStore<T> implements TicketStore<T> {
  constructor(
    /** A connection made by connectRedis (bounded commands); never closed here. */
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async put(ticket: string, value: T, ttlMs: number): Promise<void> {
    try {
      await this.redis.set(this.keyOf(ticket), JSON.stringify(value), 'PX', ttlMs);
    } catch {
      throw sharedStateUnavailable('stream tickets');
    }
  }

  async take(ticket: string): Promise<T | null> {
    let stored: string | null;
    try {
      stored = await this.redis.getdel(this.keyOf(ticket));
    } catch {
      throw sharedStateUnavailable('stream tickets');
    }
    return stored === null ? null : (JSON.parse(stored) as T);
  }

  private keyOf(ticket: string): string {
    return `${this.prefix}:ticket:${ticket}`;
  }
}
