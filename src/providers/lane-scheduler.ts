import type { Priority } from '../ports/models.js';
import { CallerAbort } from './attempt.js';

interface Waiter {
  grant(): void;
  fail(err: unknown): void;
}

/**
 * Admission for one provider lane: a concurrency cap (read afresh on every decision, so an
 * adaptive limit takes effect at once), a requests-per-minute token bucket, a lane-wide pause
 * (a provider's Retry-After), and two FIFO queues, interactive served before bulk.
 *
 * Why not bottleneck, which the lane used before: bottleneck hands every job through its
 * store's lock and a setTimeout(0) hop, one job after another, so the 100th call of a burst
 * started ~250 ms late whatever the cap. Here a free slot is granted synchronously (the caller's
 * promise resolves in the same microtask turn), a released slot goes straight to the next waiter,
 * and the only timers are for a token or a pause that has not come yet.
 *
 * Each queue is a Set: insertion-ordered, with O(1) removal, so a caller that aborts while
 * waiting leaves the queue at once and never takes a slot or a token.
 */
export class LaneScheduler {
  private readonly queues: Record<Priority, Set<Waiter>> = { interactive: new Set(), bulk: new Set() };
  private running = 0;
  private readonly ratePerMs: number;
  private tokens: number;
  private refilledAt = performance.now();
  private pausedUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private closedWith: unknown = null;

  /**
   * @param limit the current concurrency cap (called on each decision; values below 1 count as 1)
   * @param requestsPerMinute 0 = no budget; otherwise a bucket of that many tokens, refilled evenly
   */
  constructor(
    private readonly limit: () => number,
    private readonly requestsPerMinute: number,
  ) {
    this.ratePerMs = requestsPerMinute / 60_000;
    this.tokens = requestsPerMinute;
  }

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.queues.interactive.size + this.queues.bulk.size;
  }

  /**
   * Resolves once the caller holds a slot (and has spent a token); it must then call release()
   * exactly once. Rejects with CallerAbort when `signal` aborts first, or with the close() error.
   */
  acquire(priority: Priority, signal?: AbortSignal): Promise<void> {
    if (this.closedWith !== null) return Promise.reject(this.closedWith);
    if (signal?.aborted) return Promise.reject(new CallerAbort());
    // Fast path: nobody ahead and room now.
    if (this.queued === 0 && this.tryTake()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const queue = this.queues[priority];
      const onAbort = (): void => {
        if (queue.delete(waiter)) reject(new CallerAbort());
      };
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.add(waiter);
      this.pump();
    });
  }

  release(): void {
    this.running--;
    this.pump();
  }

  /** No attempt starts before `ms` from now (a provider's Retry-After); calls already running go on. */
  pause(ms: number): void {
    const until = performance.now() + ms;
    if (until > this.pausedUntil) this.pausedUntil = until;
  }

  /** Re-reads the limit (after it grew) and starts whoever now fits. */
  pump(): void {
    while (this.queued > 0 && this.tryTake()) {
      const queue = this.queues.interactive.size > 0 ? this.queues.interactive : this.queues.bulk;
      const waiter = queue.values().next().value!;
      queue.delete(waiter);
      waiter.grant();
    }
    if (this.queued > 0) this.wakeWhenRoom();
  }

  /** Fails every waiting call with `err`; later acquire() calls fail with it too. */
  close(err: unknown): void {
    this.closedWith = err;
    clearTimeout(this.timer);
    for (const queue of [this.queues.interactive, this.queues.bulk]) {
      const waiters = [...queue];
      queue.clear();
      for (const w of waiters) w.fail(err);
    }
  }

  /** Takes a slot and a token if both are free now. */
  private tryTake(): boolean {
    if (this.running >= Math.max(1, Math.floor(this.limit()))) return false;
    const now = performance.now();
    if (now < this.pausedUntil) return false;
    if (this.requestsPerMinute > 0) {
      this.tokens = Math.min(this.requestsPerMinute, this.tokens + (now - this.refilledAt) * this.ratePerMs);
      this.refilledAt = now;
      if (this.tokens < 1) return false;
      this.tokens--;
    }
    this.running++;
    return true;
  }

  /** A timer only when the wait is for time (a pause or a token); a full cap waits for release(). */
  private wakeWhenRoom(): void {
    if (this.closedWith !== null || this.running >= Math.max(1, Math.floor(this.limit()))) return;
    const now = performance.now();
    let at = Math.max(now, this.pausedUntil);
    if (this.requestsPerMinute > 0 && this.tokens < 1) at = Math.max(at, now + (1 - this.tokens) / this.ratePerMs);
    if (this.timer !== undefined && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.pump();
    }, Math.ceil(at - now));
  }
}
