import { AppError } from '../domain/errors.js';
import type { JobQueue } from '../ports/job-queue.js';

/**
 * Admission control: per-process bounds that keep ragd upright when more work arrives than it
 * can do. Work beyond a bound is refused at once with 503 `overloaded` and a Retry-After, so a
 * client (or load balancer) backs off or goes elsewhere, and memory and latency stay bounded
 * instead of growing with the backlog.
 */

export function overloaded(message: string, retryAfterSec: number): AppError {
  return new AppError(503, 'overloaded', message, { 'retry-after': String(retryAfterSec) });
}

export interface GateOptions {
  /** Work units that may run at once. */
  maxConcurrent: number;
  /** Units that may wait for a slot; 0 refuses everything beyond maxConcurrent at once. */
  maxQueued: number;
  /** A unit still waiting after this long is refused, so a queued request's latency is bounded too. */
  maxWaitMs: number;
  retryAfterSec: number;
  /** Named in the 503 message ("too many queries in flight"). */
  what: string;
}

export interface GateStats {
  active: number;
  queued: number;
  admitted: number;
  rejected: number;
}

interface Waiter {
  admit: (release: () => void) => void;
  refuse: (err: AppError) => void;
  timer: NodeJS.Timeout;
}

/**
 * A counting semaphore with a bounded, time-limited waiting line. Not the provider lanes'
 * scheduler (providers/lane-scheduler.ts): admission must refuse rather than queue when full, and
 * time out a waiter; a lane queues without bound and has priorities and a per-minute budget.
 */
export class AdmissionGate {
  private active = 0;
  private readonly waiting: Waiter[] = [];
  private admitted = 0;
  private rejected = 0;

  constructor(readonly opts: GateOptions) {}

  /**
   * Resolves with a release function (idempotent) once a slot is free; rejects with 503 when the
   * line is full, the wait passes maxWaitMs, or `signal` fires (the client left while waiting).
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    const release = this.tryAcquire();
    if (release) return Promise.resolve(release);
    if (this.waiting.length >= this.opts.maxQueued) {
      this.rejected++;
      return Promise.reject(this.refusal());
    }
    return new Promise((resolve, reject) => {
      const leave = (err: AppError) => {
        const i = this.waiting.indexOf(waiter);
        if (i < 0) return;
        this.waiting.splice(i, 1);
        clearTimeout(waiter.timer);
        signal?.removeEventListener('abort', onAbort);
        this.rejected++;
        reject(err);
      };
      const onAbort = () => leave(new AppError(499, 'client_closed', 'the client went away while waiting'));
      const waiter: Waiter = {
        admit: (release) => {
          clearTimeout(waiter.timer);
          signal?.removeEventListener('abort', onAbort);
          this.admitted++;
          resolve(release);
        },
        refuse: leave,
        timer: setTimeout(() => leave(this.refusal()), this.opts.maxWaitMs),
      };
      this.waiting.push(waiter);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * A slot at once if one is free, else null (then `acquire` waits or refuses): the common case
   * answered without a promise. Waiters never lose a slot to it: while anyone waits, all slots
   * are taken (a release hands its slot straight to the first waiter).
   */
  tryAcquire(): (() => void) | null {
    if (this.active >= this.opts.maxConcurrent) return null;
    this.active++;
    this.admitted++;
    return this.releaser();
  }

  /** True when a new unit would have to wait (or be refused). */
  get full(): boolean {
    return this.active >= this.opts.maxConcurrent;
  }

  stats(): GateStats {
    return { active: this.active, queued: this.waiting.length, admitted: this.admitted, rejected: this.rejected };
  }

  private refusal(): AppError {
    return overloaded(`too many ${this.opts.what} in flight; retry in ${this.opts.retryAfterSec} s`, this.opts.retryAfterSec);
  }

  /** A slot's release: hands it straight to the first waiter, or frees it. */
  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next.admit(this.releaser());
      else this.active--;
    };
  }
}

/**
 * Refuses uploads while the ingestion pipeline's backlog (documents queued or in a stage) is past
 * a limit. The count is read from the queue at most every `refreshMs`, not per request: a burst
 * of uploads costs one query, and may overshoot the limit by what arrives within one refresh.
 */
export class BacklogGuard {
  private reading: { at: number; value: Promise<number> } | null = null;

  constructor(
    private readonly backlog: () => Promise<number>,
    readonly opts: { maxBacklog: number; retryAfterSec: number; refreshMs?: number },
  ) {}

  async check(): Promise<void> {
    const now = Date.now();
    if (!this.reading || now - this.reading.at >= (this.opts.refreshMs ?? 250)) {
      const reading = { at: now, value: this.backlog() };
      this.reading = reading;
      // A failed read is retried on the next upload instead of being cached.
      reading.value.catch(() => {
        if (this.reading === reading) this.reading = null;
      });
    }
    const pending = await this.reading.value;
    if (pending >= this.opts.maxBacklog) {
      throw overloaded(
        `the ingestion backlog is full (${pending} documents waiting or in progress); retry in ${this.opts.retryAfterSec} s`,
        this.opts.retryAfterSec,
      );
    }
  }
}

/** The per-process bounds, built from configuration (RAGD_MAX_CONCURRENT_QUERIES …). */
export interface Admission {
  queries: AdmissionGate;
  uploads: BacklogGuard;
}

export function createAdmission(
  config: { maxConcurrentQueries: number; maxQueuedQueries: number; queryQueueTimeoutMs: number; maxPipelineBacklog: number; retryAfterSec: number },
  queue: Pick<JobQueue, 'counts'>,
): Admission {
  return {
    queries: new AdmissionGate({
      maxConcurrent: config.maxConcurrentQueries,
      maxQueued: config.maxQueuedQueries,
      maxWaitMs: config.queryQueueTimeoutMs,
      retryAfterSec: config.retryAfterSec,
      what: 'queries',
    }),
    uploads: new BacklogGuard(
      async () => {
        const counts = await queue.counts();
        return Object.values(counts).reduce((n, c) => n + c.waiting + c.active, 0);
      },
      { maxBacklog: config.maxPipelineBacklog, retryAfterSec: config.retryAfterSec },
    ),
  };
}
