import { ProviderTimeoutError } from '../ports/models.js';
import type { AttemptContext, LaneTask } from './lane-types.js';

/** Internal marker: the attempt ended because the caller aborted. Never leaves the lane. */
export class CallerAbort extends Error {
  constructor() {
    super('aborted by caller');
  }
}

/**
 * One attempt of one call: links the caller's signal and the timeout into the AbortSignal the task
 * sees, and settles as soon as either fires — even if the task is slow to notice.
 */
export class Attempt<T> {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private done = false;
/** Settles when the task itself has settled (not merely been abandoned). */
  taskSettled: Promise<void> = Promise.resolve();
  committed = false;
  /** performance.now() of the first heartbeat (first streamed chunk), if any: the attempt's time to first byte. */
  firstProgressAt: number | undefined;

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
          this.firstProgressAt ??= performance.now();
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
