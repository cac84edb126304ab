import { AppError } from '../../domain/errors.js';
import { MemorySlotCounter } from '../../adapters/embedded/memory-slot-counter.js';
import type { Release as PortRelease, SlotCounter } from '../../ports/limits.js';
import type { TenantLimits, TenantLimitsSource } from '../../ports/tenant-limits.js';

/** The limits that cap how many of something one tenant holds open at once. */
type ConcurrencyLimit = 'maxConcurrentQueries' | 'maxEventStreams';

export interface AdmissionKind {
  limit: ConcurrencyLimit;
  /** The error code of a refusal, e.g. `too_many_queries`. */
  code: string;
  /** What is counted, for the message: "queries", "event streams". */
  noun: string;
}

/** Returned by `admit`: call it once the thing admitted is over. Calling it again does nothing. */
export type Release = PortRelease;

export interface TenantAdmissionOptions {
  /**
   * Where the counts live: this process (the default, embedded) or a counter every node shares
   * (cluster). Several admissions may share one counter: keys carry the kind of limit.
   */
  slots?: SlotCounter;
  retryAfterSeconds?: number;
}

/**
 * Counts what each tenant has open (queries running, event streams connected) against its limit,
 * refusing one more with 429 and Retry-After. The counts live in a SlotCounter: in memory for the
 * embedded server (answered synchronously, so the HTTP guard decides without a promise), in Redis
 * for a cluster (a promise; 503 when Redis does not answer in time).
 */
export class TenantAdmission {
  private readonly slots: SlotCounter;
  private readonly retryAfterSeconds: number;

  constructor(
    private readonly source: TenantLimitsSource,
    private readonly kind: AdmissionKind,
    opts: TenantAdmissionOptions = {},
  ) {
    this.slots = opts.slots ?? new MemorySlotCounter();
    this.retryAfterSeconds = opts.retryAfterSeconds ?? 1;
  }

  async admit(tenantId: string): Promise<Release> {
    return this.admitUnder(tenantId, await this.source.limitsFor(tenantId));
  }

  /** `admit` with the tenant's limits already read (the HTTP guard has them): no promise when the counter answers at once. */
  admitUnder(tenantId: string, limits: TenantLimits): Release | Promise<Release> {
    const max = limits[this.kind.limit];
    const taken = this.slots.take(this.keyOf(tenantId), max);
    if (taken instanceof Promise) return taken.then((release) => this.granted(release, max));
    return this.granted(taken, max);
  }

  inUse(tenantId: string): number | Promise<number> {
    return this.slots.held(this.keyOf(tenantId));
  }

  private keyOf(tenantId: string): string {
    return `${this.kind.limit}:${tenantId}`;
  }

  private granted(release: Release | null, max: number | null): Release {
    if (release) return release;
    throw new AppError(
      429,
      this.kind.code,
      `too many ${this.kind.noun} at once: the limit is ${max} per tenant; retry when one has finished`,
      { 'retry-after': String(this.retryAfterSeconds) },
    );
  }
}

export const QUERY_ADMISSION: AdmissionKind = { limit: 'maxConcurrentQueries', code: 'too_many_queries', noun: 'queries' };
export const STREAM_ADMISSION: AdmissionKind = { limit: 'maxEventStreams', code: 'too_many_streams', noun: 'event streams (SSE and WebSocket)' };
