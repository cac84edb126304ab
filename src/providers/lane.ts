import { EventEmitter } from 'node:events';
import Bottleneck from 'bottleneck';
import CircuitBreaker from 'opossum';
import { AppError } from '../domain/errors.js';
import {
  type Priority,
  ProviderRequestError,
  ProviderTimeoutError,
  ProviderUnavailableError,
} from '../ports/models.js';

/**
 * One lane per remote provider: every call to that provider queues here. The lane owns the whole
 * call policy — concurrency cap, requests-per-minute budget, priority, per-attempt timeout, retries
 * with backoff, circuit breaker, cancellation — so provider adapters only translate wire formats,
 * and the SDKs underneath must run with their own retries switched off.
 */

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
  /** Attempts in flight at once. */
  concurrency: number;
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
}

export interface RunOptions {
  priority: Priority;
  signal?: AbortSignal;
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
  retry: [info: { lane: string; attempt: number; delayMs: number; reason: string; kind: FailureKind }];
  /**
   * A run() call finished. Emitted synchronously inside run(), so a listener runs in the
   * caller's async context (a tracing listener sees the caller's active span).
   */
  settled: [info: { lane: string; priority: Priority; outcome: CallOutcome; durationMs: number; error?: unknown; kind?: FailureKind }];
  breaker: [info: { lane: string; state: BreakerState }];
}

/**
 * An upstream HTTP failure in the shape the lane classifies: adapters that do not use the openai
 * SDK (whose APIError has the same `status` and `headers`) throw this for non-2xx answers.
 */
export class UpstreamHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers?: Headers,
  ) {
    super(message);
    this.name = 'UpstreamHttpError';
  }
}

/** The breaker is open: the call failed fast without reaching the provider. */
export class CircuitOpenError extends ProviderUnavailableError {
  /** `retryAfterMs`: the breaker's reset timeout, an upper bound on when it will try again. */
  constructor(provider: string, retryAfterMs?: number) {
    super(provider, 'circuit open, failing fast', retryAfterMs);
    this.name = 'CircuitOpenError';
  }
}

/** The error a lane rejects with when the caller aborts: the signal's reason when it is an Error (as fetch does), else an AbortError. */
export function abortError(signal?: AbortSignal): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  return new DOMException('The operation was aborted', 'AbortError');
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

// Bottleneck runs lower numbers first (0-9).
const PRIORITY: Record<Priority, number> = { interactive: 1, bulk: 6 };

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const TIMEOUT_STATUS = new Set([408, 504]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
]);
const NETWORK_MESSAGES = new Set(['fetch failed', 'terminated', 'other side closed']);

/** Internal marker: the attempt ended because the caller aborted. Never leaves the lane. */
class CallerAbort extends Error {
  constructor() {
    super('aborted by caller');
  }
}

type ErrorClass =
  | { kind: 'breaker_open' }
  | { kind: 'timeout' }
  | { kind: 'rate_limited'; status: number; retryAfterMs?: number }
  | { kind: 'upstream'; status: number; retryAfterMs?: number } // retryable 408/5xx
  | { kind: 'network' }
  | { kind: 'rejected'; status: number } // 4xx and other statuses retrying cannot fix
  | { kind: 'other' };

function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 100 && status <= 599 ? status : undefined;
}

function header(err: unknown, name: string): string | undefined {
  const headers = (err as { headers?: unknown } | null)?.headers;
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  if (headers && typeof headers === 'object') {
    const v = (headers as Record<string, unknown>)[name];
    return typeof v === 'string' ? v : undefined;
  }
  return undefined;
}

/** Retry-After as milliseconds: `retry-after-ms` (OpenAI), then `retry-after` in seconds or as an HTTP date. */
export function retryAfterMs(err: unknown, now = Date.now()): number | undefined {
  const ms = Number(header(err, 'retry-after-ms'));
  if (header(err, 'retry-after-ms') !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  const raw = header(err, 'retry-after');
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (raw.trim() !== '' && Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function isNetworkError(err: unknown): boolean {
  // undici wraps socket errors: TypeError('fetch failed') → cause { code: 'ECONNREFUSED' }; the openai
  // SDK wraps that once more in APIConnectionError. Walk the cause chain a few levels.
  let e: unknown = err;
  for (let depth = 0; depth < 6 && e !== null && typeof e === 'object'; depth++) {
    const { code, message, name } = e as { code?: unknown; message?: unknown; name?: unknown };
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if (typeof message === 'string' && NETWORK_MESSAGES.has(message)) return true;
    if (name === 'APIConnectionError') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

function classify(err: unknown): ErrorClass {
  if ((err as { code?: unknown } | null)?.code === 'EOPENBREAKER') return { kind: 'breaker_open' };
  if (err instanceof ProviderTimeoutError) return { kind: 'timeout' };
  if (err instanceof AppError) return { kind: 'other' }; // already a client-facing decision made by the task
  const status = statusOf(err);
  if (status !== undefined) {
    if (status === 429) return { kind: 'rate_limited', status, retryAfterMs: retryAfterMs(err) };
    if (RETRY_STATUS.has(status)) return { kind: 'upstream', status, retryAfterMs: retryAfterMs(err) };
    if (status >= 400) return { kind: 'rejected', status };
  }
  if (isNetworkError(err)) return { kind: 'network' };
  return { kind: 'other' };
}

const FAILURE_KIND: Record<ErrorClass['kind'], FailureKind> = {
  breaker_open: 'breaker_open',
  timeout: 'timeout',
  rate_limited: 'rate_limited',
  upstream: 'upstream_error',
  network: 'network',
  rejected: 'client_error',
  other: 'other',
};

/** Failures that say "the provider is in trouble" and so count toward opening the breaker. */
function isOutage(c: ErrorClass): boolean {
  return c.kind === 'timeout' || c.kind === 'upstream' || c.kind === 'network';
}

function isRetryable(c: ErrorClass): boolean {
  return c.kind === 'rate_limited' || c.kind === 'upstream' || c.kind === 'network';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * One attempt of one call: links the caller's signal and the timeout into the AbortSignal the task
 * sees, and settles as soon as either fires — even if the task is slow to notice.
 */
class Attempt<T> {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  /** Settles when the task itself has settled (not merely been abandoned). */
  taskSettled: Promise<void> = Promise.resolve();
  committed = false;

  constructor(
    private readonly lane: string,
    private readonly task: LaneTask<T>,
    private readonly signal: AbortSignal | undefined,
    private readonly attempt: number,
    private readonly timeoutMs: number,
  ) {}

  start(): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const settle = (fn: () => void): void => {
        if (this.done) return;
        this.done = true;
        clearTimeout(this.timer);
        this.signal?.removeEventListener('abort', onCallerAbort);
        fn();
      };
      const onCallerAbort = (): void =>
        settle(() => {
          this.controller.abort(this.signal?.reason);
          reject(new CallerAbort());
        });
      const onTimeout = (): void =>
        settle(() => {
          const err = new ProviderTimeoutError(this.lane, `no response within ${this.timeoutMs} ms`);
          this.controller.abort(err);
          reject(err);
        });
      const arm = (): void => {
        clearTimeout(this.timer);
        this.timer = setTimeout(onTimeout, this.timeoutMs);
      };

      if (this.signal?.aborted) return onCallerAbort();
      this.signal?.addEventListener('abort', onCallerAbort, { once: true });
      arm();

      const ctx: AttemptContext = {
        attempt: this.attempt,
        heartbeat: () => {
          if (!this.done) arm();
        },
        commit: () => {
          this.committed = true;
        },
      };
      let running: Promise<T>;
      try {
        running = this.task(this.controller.signal, ctx);
      } catch (err) {
        running = Promise.reject(err);
      }
      this.taskSettled = running.then(
        () => undefined,
        () => undefined,
      );
      running.then(
        (value) => settle(() => resolve(value)),
        (err: unknown) => settle(() => reject(err)),
      );
    });
  }
}

export class ProviderLane extends EventEmitter<LaneEvents> {
  readonly name: string;
  private readonly opts: Required<Omit<LaneOptions, 'requestsPerMinute'>> & { requestsPerMinute: number };
  private readonly limiter: Bottleneck;
  private readonly breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;
  private closed = false;
  private readonly counters = {
    inFlight: 0,
    queued: 0,
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
    this.opts = {
      ...options,
      requestsPerMinute: options.requestsPerMinute ?? 0,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
      maxRetryAfterMs: options.maxRetryAfterMs ?? 30_000,
      abortGraceMs: options.abortGraceMs ?? 2_000,
    };

    const rpm = this.opts.requestsPerMinute;
    this.limiter = new Bottleneck({
      maxConcurrent: options.concurrency,
      ...(rpm > 0 ? { reservoir: rpm, reservoirRefreshAmount: rpm, reservoirRefreshInterval: 60_000 } : {}),
    });

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

    const failure: { kind?: FailureKind } = {};
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
      inFlight: c.inFlight,
      queued: c.queued,
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

  /** Stops the lane: queued calls fail with ProviderUnavailableError, timers are cleared. In-flight calls finish. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.limiter.stop({ dropWaitingJobs: true });
    this.breaker.shutdown();
  }

  private breakerState(): BreakerState {
    if (this.breaker.opened) return 'open';
    if (this.breaker.halfOpen) return 'half_open';
    return 'closed';
  }

  /** `failure.kind` is set to the classification of the error it finally throws. */
  private async withRetries<T>(
    task: LaneTask<T>,
    priority: Priority,
    signal: AbortSignal | undefined,
    failure: { kind?: FailureKind },
  ): Promise<T> {
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
        this.emit('retry', { lane: this.name, attempt: attempt + 1, delayMs, reason: messageOf(err), kind: failure.kind });
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
   * Queues one attempt in the limiter. Bottleneck cannot remove a queued job, so a caller that
   * aborts while queued is rejected at once and its job is left as a tombstone: when the limiter
   * reaches it, it returns without calling the provider and hands back the per-minute token it took.
   */
  private queueAttempt<T>(
    task: LaneTask<T>,
    priority: Priority,
    signal: AbortSignal | undefined,
    attempt: number,
    state: { committed: boolean },
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) return reject(new CallerAbort());
      let phase: 'queued' | 'running' | 'gone' = 'queued';
      this.counters.queued++;
      const leaveQueue = (err: unknown): void => {
        if (phase !== 'queued') return;
        phase = 'gone';
        this.counters.queued--;
        signal?.removeEventListener('abort', onAbortWhileQueued);
        reject(err);
      };
      const onAbortWhileQueued = (): void => leaveQueue(new CallerAbort());
      signal?.addEventListener('abort', onAbortWhileQueued, { once: true });

      this.limiter
        .schedule({ priority: PRIORITY[priority] }, async () => {
          if (phase === 'gone') {
            if (this.opts.requestsPerMinute > 0) await this.limiter.incrementReservoir(1);
            return;
          }
          phase = 'running';
          this.counters.queued--;
          signal?.removeEventListener('abort', onAbortWhileQueued);
          // Answer the caller as soon as the attempt settles, but keep the slot (return later)
          // until the task has really let go of its connection.
          const a = new Attempt<T>(this.name, task, signal, attempt, this.opts.timeoutMs);
          this.counters.inFlight++;
          try {
            await this.fireThroughBreaker(a, priority, attempt).then(
              (value) => {
                state.committed = a.committed;
                resolve(value);
              },
              (err: unknown) => {
                state.committed = a.committed;
                reject(err);
              },
            );
            await this.untilSettledOrGrace(a);
          } finally {
            this.counters.inFlight--;
          }
        })
        .catch((err: unknown) => {
          // Only reached when the limiter drops the job (close()) or fails internally.
          leaveQueue(this.closed ? new ProviderUnavailableError(this.name, 'lane closed') : err);
        });
    });
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

