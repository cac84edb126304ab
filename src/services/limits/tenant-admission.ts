import { AppError } from '../../domain/errors.js';
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
export type Release = () => void;

/**
 * Counts what each tenant has open (queries running, event streams connected) against its limit,
 * refusing one more with 429 and Retry-After. Counts live in this process: in the embedded
 * deployment that is the whole server. A tenant's count is dropped when it reaches zero, so the
 * map holds only tenants with something open.
 */
export class TenantAdmission {
  private readonly open = new Map<string, number>();

  constructor(
    private readonly source: TenantLimitsSource,
    private readonly kind: AdmissionKind,
    private readonly retryAfterSeconds = 1,
  ) {}

  async admit(tenantId: string): Promise<Release> {
    return this.admitUnder(tenantId, await this.source.limitsFor(tenantId));
  }

  /** `admit` with the tenant's limits already read (the HTTP guard has them): no promise. */
  admitUnder(tenantId: string, limits: TenantLimits): Release {
    const max = limits[this.kind.limit];
    const now = this.open.get(tenantId) ?? 0;
    if (max !== null && now >= max) {
      throw new AppError(
        429,
        this.kind.code,
        `too many ${this.kind.noun} at once: the limit is ${max} per tenant; retry when one has finished`,
        { 'retry-after': String(this.retryAfterSeconds) },
      );
    }
    this.open.set(tenantId, now + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(tenantId) ?? 1) - 1;
      if (left > 0) this.open.set(tenantId, left);
      else this.open.delete(tenantId);
    };
  }

  inUse(tenantId: string): number {
    return this.open.get(tenantId) ?? 0;
  }
}

export const QUERY_ADMISSION: AdmissionKind = { limit: 'maxConcurrentQueries', code: 'too_many_queries', noun: 'queries' };
export const STREAM_ADMISSION: AdmissionKind = { limit: 'maxEventStreams', code: 'too_many_streams', noun: 'event streams (SSE and WebSocket)' };
