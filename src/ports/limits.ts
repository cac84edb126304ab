import type { RateLimiterAbstract } from 'rate-limiter-flexible';

/**
 * Counters behind the per-tenant and per-provider limits. Embedded: this process is the whole
 * server, so they count in memory and answer synchronously (the per-request guards then decide
 * without a promise). Cluster: they count in Redis, so every API node and worker shares one count
 * and a limit holds across the cluster, not once per process. A cluster counter that cannot reach
 * Redis in time rejects with AppError 503 `shared_state_unavailable`.
 */

/** Ends a hold. Calling it again does nothing. */
export type Release = () => void;

/** What a tenant holds open at once (running queries, connected event streams), capped per key. */
export interface SlotCounter {
  /**
   * One more slot under `key` when fewer than `max` are held: its Release; else null. `max` null
   * means no cap, and a counter may then skip counting. A slot whose holder vanished without
   * releasing it (a crashed node) frees itself in the cluster counter.
   */
  take(key: string, max: number | null): Release | null | Promise<Release | null>;
  /** Slots held under `key` now. */
  held(key: string): number | Promise<number>;
}

/**
 * A limiter allowing `requestsPerMinute` per key (rate-limiter-flexible): RateLimiterMemory
 * embedded, RateLimiterRedis in a cluster, so every API node spends from one budget.
 */
export type RateLimiterFactory = (requestsPerMinute: number) => RateLimiterAbstract;

/**
 * One model provider's caps shared by every process that calls it: attempts in flight at once,
 * and attempts started per minute. The lane keeps its own queue, priorities and local cap, and
 * takes one of these before each attempt.
 */
export interface SharedProviderCap {
  /** A slot and a per-minute token now, or how long to wait before asking again. */
  tryTake(): Promise<{ release: Release } | { retryInMs: number }>;
}

/** Builds the shared cap of one provider; `key` names the provider (e.g. its lane's name). */
export type SharedProviderCapFactory = (cap: { key: string; concurrency: number; requestsPerMinute: number }) => SharedProviderCap;
