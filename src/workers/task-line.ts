import { AdmissionGate } from '../services/admission.js';

/**
 * The waiting line in front of a worker pool, one task per thread. Piscina queues too, but a
 * task in its queue cannot be seen to start: with our own line a task's deadline can start when
 * it gets a thread (not when it was queued behind a slow file), and a task whose caller left
 * (`signal`) leaves the line without ever reaching a thread. Beyond `maxQueue` waiting tasks,
 * new ones are refused with 503 overloaded.
 */
export class TaskLine {
  private readonly gate: AdmissionGate;

  constructor(opts: { threads: number; maxQueue?: number; pool: string }) {
    this.gate = new AdmissionGate({
      maxConcurrent: opts.threads,
      maxQueued: opts.maxQueue ?? Number.MAX_SAFE_INTEGER,
      // Waiting is bounded by the caller's own deadline and signal, not here.
      maxWaitMs: 2 ** 31 - 1,
      retryAfterSec: 1,
      what: `tasks for the ${opts.pool} worker pool`,
    });
  }

  /** Waits for a thread (leaving the line if `signal` fires), runs `start`, frees the thread when it settles. */
  async run<T>(start: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.gate.acquire(signal);
    try {
      return await start();
    } finally {
      release();
    }
  }

  get queued(): number {
    return this.gate.stats().queued;
  }
}
