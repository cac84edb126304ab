import { Piscina } from 'piscina';
import { deadline } from '../domain/deadline.js';
import { PermanentError } from '../domain/errors.js';
import { unwrap, type StageResult } from './stage-result.js';
import { TaskLine } from './task-line.js';
import { workerModule } from './worker-url.js';

export type IngestTaskName = 'parse' | 'chunk' | 'embedHash';

/**
 * The worker-thread pool for CPU work: parsing, chunking, hash embedding, query embedding.
 * Every task runs under a time limit that starts when it gets a thread; piscina terminates the
 * thread of a task that is aborted, so a parser stuck in a loop costs one thread restart, not
 * the server. Each thread has a heap limit: a file that balloons its parser (a DOCX whose XML
 * mammoth turns into gigabytes) kills that thread, not the process, and fails its document for
 * good: the same bytes would run out of memory again.
 */
export class IngestPool {
  readonly pool: Piscina;
  private readonly line: TaskLine;

  constructor(
    private readonly opts: {
      threads: number;
      taskTimeoutMs: number;
      /** Tasks waiting for a thread beyond which new ones are refused with 503 (default: unbounded). */
      maxQueue?: number;
      /** Each thread's old-generation heap limit (RAGD_WORKER_MAX_MEMORY_MB); default: V8's. */
      maxMemoryMb?: number;
      /** The worker module, a URL (tests pass a stand-in with the same task names). */
      module?: string;
    },
  ) {
    this.pool = new Piscina({
      ...workerModule(opts.module ?? './ingest-tasks.js', import.meta.url),
      minThreads: Math.min(1, opts.threads),
      maxThreads: opts.threads,
      idleTimeout: 60_000,
      ...(opts.maxMemoryMb ? { resourceLimits: { maxOldGenerationSizeMb: opts.maxMemoryMb } } : {}),
    });
    this.line = new TaskLine({ threads: opts.threads, pool: 'ingest', ...(opts.maxQueue !== undefined ? { maxQueue: opts.maxQueue } : {}) });
  }

  /** `timeScale` multiplies the time limit: work that streams a large file grows with its size. */
  async run<T>(name: IngestTaskName, input: unknown, signal?: AbortSignal, timeScale = 1): Promise<T> {
    const timeoutMs = this.opts.taskTimeoutMs * timeScale;
    const result = await this.line.run(async () => {
      // Started here, with a thread free for it: time spent queued behind another (possibly
      // another tenant's) slow file is not held against this one.
      const limit = deadline(timeoutMs, signal);
      try {
        return (await this.pool.run(input, { name, signal: limit.signal })) as StageResult<T>;
      } catch (err) {
        if (limit.expired && !signal?.aborted) {
          throw new PermanentError(`${name} did not finish within ${timeoutMs} ms and was stopped`, 'timeout');
        }
        if ((err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
          throw new PermanentError(`${name} ran out of memory (limit ${this.opts.maxMemoryMb ?? 'default'} MB per worker) and was stopped`, 'out_of_memory');
        }
        throw err;
      } finally {
        limit.clear();
      }
    }, signal);
    return unwrap(result);
  }

  /** Query embedding is tiny but still CPU: it runs here too, never on the event loop. */
  embedQuery(text: string, dim: number): Promise<Float32Array> {
    return this.line.run(() => this.pool.run({ text, dim }, { name: 'embedQuery' }) as Promise<Float32Array>);
  }

  stats(): { threads: number; queued: number; utilization: number } {
    return { threads: this.pool.threads.length, queued: this.line.queued, utilization: this.pool.utilization };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
