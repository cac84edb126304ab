import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { sharedStateUnavailable } from '../../../domain/errors.js';
import type { Release } from '../../../ports/limits.js';
import { LEASE_COUNT, LEASE_RENEW, LEASE_TAKE } from './lua.js';

export interface RedisLeasesOptions {
  /** A connection made by connectRedis (bounded commands); never closed here. */
  redis: Redis;
  /** Namespace of the keys; the nodes of one deployment share it. */
  prefix: string;
  /**
   * How long a slot outlives its holder's last heartbeat (default 30 s). The holder renews at a
   * third of it, so a live node never loses a slot; a crashed node's slots free themselves after it.
   */
  leaseMs?: number;
  /** Told about failed renewals and releases (Redis unreachable); the slots then expire by themselves. */
  onError?: (err: unknown, what: string) => void;
}

export type LeaseAnswer = { release: Release } | { retryInMs: number };

/** Ask again this soon when every slot is held (no notification on release: polling is enough here). */
const FULL_RETRY_MS = 25;

/**
 * Capped sets of expiring leases in Redis, shared by every process using the same prefix: the
 * counting under the cluster's tenant slot counter and the providers' shared caps. Each lease is a
 * member of a sorted set scored by its expiry; this process renews the ones it holds on one timer,
 * and removes each when released.
 */
export class RedisLeases {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly leaseMs: number;
  private readonly onError: (err: unknown, what: string) => void;
  /** This process's name in lease members, so its leases are told apart from other nodes'. */
  private readonly holder = randomBytes(8).toString('hex');
  private seq = 0;
  /** Leases this process holds, by key: what the heartbeat renews. */
  private readonly held = new Map<string, Set<string>>();
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  constructor(opts: RedisLeasesOptions) {
    this.redis = opts.redis;
    this.prefix = opts.prefix;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.onError = opts.onError ?? (() => undefined);
    this.heartbeat = setInterval(() => void this.renew(), Math.max(50, Math.floor(this.leaseMs / 3)));
    this.heartbeat.unref();
  }

  /**
   * One of `max` slots under `key`, and with `requestsPerMinute` > 0 one token of that per-minute
   * budget too. Rejects with a 503 AppError when Redis does not answer in time.
   */
  async take(key: string, max: number, requestsPerMinute = 0): Promise<LeaseAnswer> {
    if (this.closed) throw sharedStateUnavailable('limits counter closed');
    const slots = this.slotsKey(key);
    const member = `${this.holder}:${++this.seq}`;
    let answer: unknown;
    try {
      answer = await this.redis.eval(LEASE_TAKE, 2, slots, `${this.prefix}:bucket:${key}`, member, max, this.leaseMs, requestsPerMinute);
    } catch (err) {
      this.onError(err, `slot under ${key} not taken`);
      throw sharedStateUnavailable('limits counter');
    }
    if (answer !== 0) return { retryInMs: answer === -1 ? FULL_RETRY_MS : Number(answer) };
    let members = this.held.get(slots);
    if (!members) this.held.set(slots, (members = new Set()));
    members.add(member);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const mine = this.held.get(slots);
        mine?.delete(member);
        if (mine?.size === 0) this.held.delete(slots);
        // If Redis is away the lease is no longer renewed and expires by itself.
        this.redis.zrem(slots, member).catch((err: unknown) => this.onError(err, `slot under ${key} not released`));
      },
    };
  }

  /** Leases held under `key` now, by every process. */
  async count(key: string): Promise<number> {
    try {
      return Number(await this.redis.eval(LEASE_COUNT, 1, this.slotsKey(key)));
    } catch (err) {
      this.onError(err, `slots under ${key} not counted`);
      throw sharedStateUnavailable('limits counter');
    }
  }

  /**
   * Stops renewing. Leases still held then are released (best effort) so a clean shutdown frees
   * its slots at once; ones Redis does not hear about expire after `leaseMs`.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    const pending = [...this.held].map(([slots, members]) => this.redis.zrem(slots, ...members).catch(() => 0));
    this.held.clear();
    await Promise.all(pending);
  }

  private slotsKey(key: string): string {
    return `${this.prefix}:slots:${key}`;
  }

  private async renew(): Promise<void> {
    await Promise.all(
      [...this.held].map(([slots, members]) =>
        this.redis.eval(LEASE_RENEW, 1, slots, this.leaseMs, ...members).catch((err: unknown) => this.onError(err, `slots under ${slots} not renewed`)),
      ),
    );
  }
}
