/**
 * A signal that aborts when the caller's does, or when `ms` have passed, whichever comes first;
 * `clear()` releases it as soon as the work is over.
 *
 * Why not `AbortSignal.any([signal, AbortSignal.timeout(ms)])`: the timeout's timer, and the
 * signal with it, stay alive for the whole `ms` after the work is done, and `any` ties the
 * combined signal to its sources through weak references. Ingestion starts dozens of tasks a
 * second under a two-minute limit, so thousands of those lingered at once on the event loop's
 * heap, all of it for the major GC to trace, while questions waited on its pauses.
 */
export interface Deadline {
  readonly signal: AbortSignal;
  /** True once the time ran out (rather than the caller aborting). */
  readonly expired: boolean;
  /** Stops the timer and lets go of the caller's signal. Call when the work is over. */
  clear(): void;
}

export function deadline(ms: number, caller?: AbortSignal): Deadline {
  const controller = new AbortController();
  let expired = false;
  const onCallerAbort = () => controller.abort(caller?.reason);
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError'));
  }, ms);
  if (caller?.aborted) onCallerAbort();
  else caller?.addEventListener('abort', onCallerAbort, { once: true });
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    clear() {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onCallerAbort);
    },
  };
}
