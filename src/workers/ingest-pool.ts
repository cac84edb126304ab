import { Piscina } from 'piscina';
import { deadline } from '../domain/deadline.js';
import { PermanentError } from '../domain/errors.js';
import { poolFull } from '../services/admission.js';
import type { StageResult } from './stage-result.js';
import { workerModule } from './worker-url.js';

export type IngestTaskName = 'parse' | 'chunk' | 'embedHash';

/**
 * The worker-thread pool for CPU work: parsing, chunking, hash embedding, query embedding.
 * Every task runs under a time limit; piscina terminates the thread of a task that is aborted,
 * so a parser stuck in a loop costs one thread restart, not the server.
 */
export class IngestPool {
  readonly pool: Piscina;

  constructor(
    private readonly opts: {
      threads: number;
      taskTimeoutMs: number;
      /** Tasks waiting for a thread beyond which new ones are refused with 503 (default: unbounded). */
      maxQueue?: number;
    },
  ) {
    this.pool = new Piscina({
      ...workerModule('./ingest-tasks.js', import.meta.url),
      minThreads: Math.min(1, opts.threads),
      maxThreads: opts.threads,
      idleTimeout: 60_000,
      maxQueue: opts.maxQueue ?? Number.POSITIVE_INFINITY,
    });
  }

  /** `timeScale` multiplies the time limit: work that streams a large file grows with its size. */
  async run<T>(name: IngestTaskName, input: unknown, signal?: AbortSignal, timeScale = 1): Promise<T> {
    const timeoutMs = this.opts.taskTimeoutMs * timeScale;
    const limit = deadline(timeoutMs, signal);
    let result: StageResult<T>;
    try {
      result = (await this.pool.run(input, { name, signal: limit.signal })) as StageResult<T>;
    } catch (err) {
      if (limit.expired && !signal?.aborted) {
        throw new PermanentError(`${name} did not finish within ${timeoutMs} ms and was stopped`, 'timeout');
      }
      throw poolFull(err, 'ingest');
    } finally {
      limit.clear();
    }
    if (!result.ok) {
      if (result.error.permanent) throw new PermanentError(result.error.message, result.error.code);
      throw new Error(result.error.message);
    }
    return result.value;
  }

  /** Query embedding is tiny but still CPU: it runs here too, never on the event loop. */
  embedQuery(text: string, dim: number): Promise<Float32Array> {
    return (this.pool.run({ text, dim }, { name: 'embedQuery' }) as Promise<Float32Array>).catch((err: unknown) => {
      throw poolFull(err, 'ingest');
    });
  }

  stats(): { threads: number; queued: number; utilization: number } {
    return { threads: this.pool.threads.length, queued: this.pool.queueSize, utilization: this.pool.utilization };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
