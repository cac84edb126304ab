import type { SharedProviderCap } from '../ports/limits.js';
import type { Priority } from '../ports/models.js';

/** The provider lane's options, statistics and events (see lane.ts). */

export interface BreakerOptions {
  /** Failure percentage within the rolling window above which the breaker opens. */
  errorThresholdPercentage: number;
  /** Calls the rolling window must hold before the breaker may open at all. */
  volumeThreshold: number;
  /** How long the breaker stays open before it lets one probe through (half-open). */
  resetTimeoutMs: number;
  /** Length of the rolling statistics window (default 10 s). */
  rollingWindowMs?: number;
}

export interface LaneOptions {
  name: string;
  /** Attempts in flight at once (the pinned limit; ignored when `adaptive` is set). */
  concurrency: number;
  /**
   * Let the limit adapt within [min, max] (see adaptive-limit.ts): it starts at max, shrinks on
   * 429/503 and rising latency, and grows back while latency holds.
   */
  adaptive?: { min: number; max: number } | null;
  /** Attempts started per minute; 0 or undefined means no budget. */
  requestsPerMinute?: number;
  /** An attempt that makes no progress for this long is aborted (see AttemptContext.heartbeat). */
  timeoutMs: number;
  /** Retries after the first attempt, for 429/408/5xx/network errors only. */
  maxRetries: number;
  /** First backoff step; doubles per retry, with jitter. */
  backoffBaseMs: number;
  /** Largest backoff step (default 30 s). */
  backoffMaxMs?: number;
  /** A Retry-After longer than this is not waited for: the call fails at once (default 30 s). */
  maxRetryAfterMs?: number;
  /**
   * After an attempt is aborted (caller or timeout) its slot stays taken until the upstream call
   * has really ended, so the concurrency cap holds; but at most this long (default 2 s), so a task
   * that ignores its signal cannot wedge the lane.
   */
  abortGraceMs?: number;
  breaker: BreakerOptions;
  /**
   * The provider's caps shared by every process of a cluster (concurrency and requests per
   * minute): each attempt takes a slot of it after the lane's own. Absent (embedded): the lane's
   * own limits are the whole story.
   */
  shared?: SharedProviderCap;
}

export interface RunOptions {
  priority: Priority;
  signal?: AbortSignal;
  /** The HTTP request the call is made for, named in the lane's events (and so its log lines). */
  requestId?: string;
}

/** What a task may tell the lane about the attempt it is running. */
export interface AttemptContext {
  /** 0 for the first attempt, 1 for the first retry … */
  readonly attempt: number;
  /** The attempt made progress (a stream chunk arrived): restart its timeout. */
  heartbeat(): void;
  /**
   * The attempt has had effects the caller saw (a streamed token was emitted): from now on a
   * failure is final, because a retry would repeat those effects.
   */
  commit(): void;
}

export type LaneTask<T> = (signal: AbortSignal, ctx: AttemptContext) => Promise<T>;

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface LaneStats {
  name: string;
  /** Attempts holding a concurrency slot. */
  inFlight: number;
  /** Attempts waiting for a slot or for the per-minute budget. */
  queued: number;
  /** The concurrency limit now (the pinned one, or where the adaptive one stands). */
  limit: number;
  /** Calls sleeping between a failed attempt and their retry. */
  backingOff: number;
  breaker: BreakerState;
  /** run() calls. */
  calls: number;
  /** Requests sent to the provider (first attempts and retries). */
  attempts: number;
  retries: number;
  /** run() calls that ended in an error (caller aborts excluded). */
  failures: number;
  /** run() calls failed fast by the open breaker, without reaching the provider (part of failures). */
  rejected: number;
  /** Attempts cut off by timeoutMs. */
  timeouts: number;
  /** run() calls whose caller aborted. */
  aborted: number;
}

export type CallOutcome = 'ok' | 'error' | 'aborted' | 'rejected';

/** Why an attempt or call failed, in words stable enough for a metric label. */
export type FailureKind = 'breaker_open' | 'timeout' | 'rate_limited' | 'upstream_error' | 'network' | 'client_error' | 'other';

/** Events for metrics and logs. */
export interface LaneEvents {
  /** A request is about to be sent to the provider. */
  attempt: [info: { lane: string; priority: Priority; attempt: number }];
  /** An attempt failed and will be retried after delayMs. */
  retry: [info: { lane: string; attempt: number; delayMs: number; reason: string; kind: FailureKind; requestId?: string }];
  /**
   * A run() call finished. Emitted synchronously inside run(), so a listener runs in the
   * caller's async context (a tracing listener sees the caller's active span).
   */
  settled: [info: { lane: string; priority: Priority; outcome: CallOutcome; durationMs: number; error?: unknown; kind?: FailureKind }];
  breaker: [info: { lane: string; state: BreakerState }];
}
