import { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import { AppError } from '../domain/errors.js';
import {
  type Priority,
  ProviderRequestError,
  ProviderTimeoutError,
  ProviderUnavailableError,
} from '../ports/models.js';
import type { Release, SharedProviderCap } from '../ports/limits.js';
import { AdaptiveLimit } from './adaptive-limit.js';
import { Attempt, CallerAbort } from './attempt.js';
import { LaneScheduler } from './lane-scheduler.js';
import { takeSharedSlot } from './shared-slot.js';
import type {
  AttemptContext,
  BreakerState,
  CallOutcome,
  FailureKind,
  LaneEvents,
  LaneOptions,
  LaneStats,
  LaneTask,
  RunOptions,
} from './lane-types.js';
import {
  abortError,
  CircuitOpenError,
  classify,
  type ErrorClass,
  FAILURE_KIND,
  isAbortError,
  isOutage,
  isRetryable,
  messageOf,
  TIMEOUT_STATUS,
} from './upstream-errors.js';

export * from './lane-types.js';
export { abortError, CircuitOpenError, isAbortError, retryAfterMs, UpstreamHttpError } from './upstream-errors.js';

/** One call's request id (for its events) and, once it fails for good, how it failed. */
interface CallState {
  requestId?: string;
  kind?: FailureKind;
}

/**
 * One lane per remote provider: every call to that provider queues here. The lane owns the whole
 * call policy — concurrency cap, requests-per-minute budget, priority, per-attempt timeout, retries
 * with backoff, circuit breaker, cancellation — so provider adapters only translate wire formats,
 * and the SDKs underneath must run with their own retries switched off.
 */
export class ProviderLane extends EventEmitter<LaneEvents> {
  readonly name: string;
  private readonly opts: Required<Omit<LaneOptions, 'requestsPerMinute' | 'adaptive' | 'shared'>> & { requestsPerMinute: number };
  /** The cluster-wide cap, when the provider is shared by several processes. */
  private readonly shared: SharedProviderCap | undefined;
  private readonly scheduler: LaneScheduler;
  /** Null when the concurrency is pinned. */
  private readonly adaptive: AdaptiveLimit | null;
  private readonly breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;
  private closed = false;
  private readonly counters = {
    backingOff: 0,
    calls: 0,
    attempts: 0,
    retries: 0,
    failures: 0,
    rejected: 0,
    timeouts: 0,
    aborted: 0,
  };

  constructor(options: LaneOptions) {
    super();
    if (!(options.concurrency >= 1)) throw new Error(`lane ${options.name}: concurrency must be >= 1`);
    if (!(options.timeoutMs > 0)) throw new Error(`lane ${options.name}: timeoutMs must be > 0`);
    this.name = options.name;
    const { adaptive, shared, ...rest } = options;
    this.shared = shared;
    this.opts = {
      ...rest,
      requestsPerMinute: options.requestsPerMinute ?? 0,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
      maxRetryAfterMs: options.maxRetryAfterMs ?? 30_000,
      abortGraceMs: options.abortGraceMs ?? 2_000,
    };

    this.adaptive = adaptive ? new AdaptiveLimit(adaptive) : null;
    const pinned = options.concurrency;
    this.scheduler = new LaneScheduler(this.adaptive ? () => this.adaptive!.limit : () => pinned, this.opts.requestsPerMinute);

    this.breaker = new CircuitBreaker((attempt: () => Promise<unknown>) => attempt(), {
      name: options.name,
      timeout: false, // the Attempt owns the timeout, so it can abort the request rather than abandon it
      errorThresholdPercentage: options.breaker.errorThresholdPercentage,
      volumeThreshold: options.breaker.volumeThreshold,
      resetTimeout: options.breaker.resetTimeoutMs,
      rollingCountTimeout: options.breaker.rollingWindowMs ?? 10_000,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      // true = "not a failure". Only outages (timeouts, 5xx, network) may open the breaker; a 400 or
      // a 429 means the provider is up and answering.
      errorFilter: (err: unknown) => {
        // A probe the caller abandoned proves nothing; counting it as a failure keeps the breaker
        // open one more period rather than closing on no evidence. Outside half-open it is ignored.
        if (err instanceof CallerAbort) return !this.breaker.halfOpen;
        return !isOutage(classify(err));
      },
    });
    this.breaker.on('open', () => this.emit('breaker', { lane: this.name, state: 'open' }));
    this.breaker.on('halfOpen', () => this.emit('breaker', { lane: this.name, state: 'half_open' }));
    this.breaker.on('close', () => this.emit('breaker', { lane: this.name, state: 'closed' }));
  }

  /**
   * Runs `task` in this lane: waits for a slot (interactive before bulk), then calls it with a
   * signal that fires on caller abort or timeout, retrying retryable failures with backoff.
   * Rejects with ProviderUnavailableError / ProviderTimeoutError / ProviderRequestError, with the
   * task's own error when it is not an upstream failure, or at once with an AbortError when
   * `opts.signal` aborts (the queued or running attempt is cancelled too).
   */
  async run<T>(task: LaneTask<T>, opts: RunOptions): Promise<T> {
    const started = performance.now();
    const { priority, signal } = opts;
    this.counters.calls++;
    const finish = (outcome: CallOutcome, error?: unknown, kind?: FailureKind): void => {
      const info = { lane: this.name, priority, outcome, durationMs: performance.now() - started, error };
      this.emit('settled', kind ? { ...info, kind } : info);
    };

    if (signal?.aborted) {
      this.counters.aborted++;
      finish('aborted');
      throw abortError(signal);
    }
    if (this.closed || this.breaker.opened) {
      this.counters.failures++;
      this.counters.rejected++;
      const err = this.closed ? new ProviderUnavailableError(this.name, 'lane closed') : new CircuitOpenError(this.name, this.opts.breaker.resetTimeoutMs);
      finish('rejected', err, this.closed ? 'other' : 'breaker_open');
      throw err;
    }

    const failure: CallState = opts.requestId ? { requestId: opts.requestId } : {};
    try {
      const value = await this.withRetries(task, priority, signal, failure);
      finish('ok');
      return value;
    } catch (err) {
      if (err instanceof CallerAbort) {
        this.counters.aborted++;
        finish('aborted');
        throw abortError(signal);
      }
      this.counters.failures++;
      const rejected = err instanceof CircuitOpenError;
      if (rejected) this.counters.rejected++;
      finish(rejected ? 'rejected' : 'error', err, rejected ? 'breaker_open' : (failure.kind ?? 'other'));
      throw err;
    }
  }

  stats(): LaneStats {
    const c = this.counters;
    return {
      name: this.name,
      inFlight: this.scheduler.inFlight,
      queued: this.scheduler.queued,
      limit: this.limit,
      backingOff: c.backingOff,
      breaker: this.breakerState(),
      calls: c.calls,
      attempts: c.attempts,
      retries: c.retries,
      failures: c.failures,
      rejected: c.rejected,
      timeouts: c.timeouts,
      aborted: c.aborted,
    };
  }

  /** The concurrency limit now: the pinned one, or where the adaptive one has settled. */
  get limit(): number {
    return this.adaptive ? this.adaptive.limit : this.opts.concurrency;
  }

  /** Stops the lane: queued calls fail with ProviderUnavailableError, timers are cleared. In-flight calls finish. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.scheduler.close(new ProviderUnavailableError(this.name, 'lane closed'));
    this.breaker.shutdown();
  }

  private breakerState(): BreakerState {
    if (this.breaker.opened) return 'open';
    if (this.breaker.halfOpen) return 'half_open';
    return 'closed';
  }

  /** `failure.kind` is set to the classification of the error it finally throws. */
  private async withRetries<T>(task: LaneTask<T>, priority: Priority, signal: AbortSignal | undefined, failure: CallState): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const state = { committed: false };
      try {
        return await this.queueAttempt(task, priority, signal, attempt, state);
      } catch (err) {
        if (err instanceof CallerAbort) throw err;
        const c = classify(err);
        if (c.kind === 'timeout') this.counters.timeouts++;
        failure.kind = FAILURE_KIND[c.kind];
        if (!isRetryable(c) || state.committed || attempt >= this.opts.maxRetries) throw this.finalError(err, c);
        const delayMs = this.retryDelay(attempt, c);
        if (delayMs === undefined) throw this.finalError(err, c);
        this.counters.retries++;
        const retry = { lane: this.name, attempt: attempt + 1, delayMs, reason: messageOf(err), kind: failure.kind };
        this.emit('retry', failure.requestId ? { ...retry, requestId: failure.requestId } : retry);
        await this.sleep(delayMs, signal);
      }
    }
  }

  /** Exponential backoff with equal jitter; a Retry-After from the provider is a floor. Undefined = do not wait that long. */
  private retryDelay(attempt: number, c: ErrorClass): number | undefined {
    const step = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** attempt);
    const backoff = step / 2 + Math.random() * (step / 2);
    const hinted = 'retryAfterMs' in c ? c.retryAfterMs : undefined;
    if (hinted === undefined) return backoff;
    if (hinted > this.opts.maxRetryAfterMs) return undefined;
    // Spread the retries of many callers told the same Retry-After, so they do not return in one burst.
    return hinted + Math.random() * Math.min(this.opts.backoffBaseMs, 1_000);
  }

  private finalError(err: unknown, c: ErrorClass): unknown {
    switch (c.kind) {
      case 'breaker_open':
        return new CircuitOpenError(this.name, this.opts.breaker.resetTimeoutMs);
      case 'timeout':
        return err;
      case 'rate_limited':
        return new ProviderUnavailableError(this.name, `rate limited (429): ${messageOf(err)}`, c.retryAfterMs);
      case 'upstream':
        return TIMEOUT_STATUS.has(c.status)
          ? new ProviderTimeoutError(this.name, `upstream answered ${c.status}: ${messageOf(err)}`)
          : new ProviderUnavailableError(this.name, `upstream answered ${c.status}: ${messageOf(err)}`, c.retryAfterMs);
      case 'network':
        return new ProviderUnavailableError(this.name, `unreachable: ${messageOf(err)}`);
      case 'rejected':
        return new ProviderRequestError(this.name, c.status, messageOf(err));
      case 'other':
        return err;
    }
  }

  /**
   * Waits for a slot (and a per-minute token), then runs one attempt through the breaker. The
   * caller is answered as soon as the attempt settles, but the slot is held until the task has
   * really let go of its connection (or abortGraceMs), so the cap holds. A caller that aborts while
   * waiting leaves the queue at once and never takes a slot or a token.
   */
  private async queueAttempt<T>(
    task: LaneTask<T>,
    priority: Priority,
    signal: AbortSignal | undefined,
    attempt: number,
    state: { committed: boolean },
  ): Promise<T> {
    await this.scheduler.acquire(priority, signal);
    let releaseShared: Release | undefined;
    if (this.shared) {
      try {
        releaseShared = await takeSharedSlot(this.shared, signal, () => (this.closed ? new ProviderUnavailableError(this.name, 'lane closed') : null));
      } catch (err) {
        this.scheduler.release();
        throw err;
      }
    }
    const startedAt = performance.now();
    const a = new Attempt<T>(this.name, task, signal, attempt, this.opts.timeoutMs);
    const running = this.fireThroughBreaker(a, priority, attempt);
    void running
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => this.untilSettledOrGrace(a))
      .finally(() => {
        releaseShared?.();
        this.scheduler.release();
      });
    try {
      const value = await running;
      state.committed = a.committed;
      this.adaptOnSuccess(startedAt, a);
      return value;
    } catch (err) {
      state.committed = a.committed;
      this.adaptOnFailure(startedAt, err);
      throw err;
    }
  }

  private adaptOnSuccess(startedAt: number, a: Attempt<unknown>): void {
    if (!this.adaptive) return;
    const latencyMs = (a.firstProgressAt ?? performance.now()) - startedAt;
    const saturated = this.scheduler.queued > 0 || this.scheduler.inFlight >= this.adaptive.limit;
    if (this.adaptive.onSuccess(startedAt, latencyMs, saturated)) this.scheduler.pump();
  }

  /** 429/503 shrink the adaptive limit; a Retry-After holds the whole lane, pinned or not, that long. */
  private adaptOnFailure(startedAt: number, err: unknown): void {
    const c = classify(err);
    if (c.kind !== 'rate_limited' && !(c.kind === 'upstream' && c.status === 503)) return;
    this.adaptive?.onOverload(startedAt);
    if (c.retryAfterMs !== undefined && c.retryAfterMs > 0) this.scheduler.pause(Math.min(c.retryAfterMs, this.opts.maxRetryAfterMs));
  }

  /** The breaker rejects with EOPENBREAKER, without starting the attempt, when it is open or half-open with its one probe already out. */
  private fireThroughBreaker<T>(a: Attempt<T>, priority: Priority, attempt: number): Promise<T> {
    return this.breaker.fire(() => {
      this.counters.attempts++;
      this.emit('attempt', { lane: this.name, priority, attempt });
      return a.start();
    }) as Promise<T>;
  }

  private untilSettledOrGrace(a: Attempt<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.opts.abortGraceMs);
    });
    return Promise.race([a.taskSettled, grace]).finally(() => clearTimeout(timer));
  }

  private sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.counters.backingOff++;
      const done = (): void => {
        this.counters.backingOff--;
        signal?.removeEventListener('abort', onAbort);
      };
      const timer = setTimeout(() => {
        done();
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(timer);
        done();
        reject(new CallerAbort());
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

