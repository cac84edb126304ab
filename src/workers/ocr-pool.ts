import { Piscina } from 'piscina';
import { deadline } from '../domain/deadline.js';
import { PermanentError } from '../domain/errors.js';
import { unwrap, type StageResult } from './stage-result.js';
import { workerModule } from './worker-url.js';

export type OcrTaskName = 'plan' | 'renderPage' | 'recognize' | 'merge' | 'warm';

/**
 * The worker threads that OCR: few (default one), at the lowest CPU priority, apart from the
 * ingest pool so a long scan never holds the threads that parse, chunk and embed query vectors.
 * Each task is one page at most and runs under the per-page time limit; an aborted task's thread
 * is terminated (and its models reloaded by the next).
 */
export class OcrPool {
  private readonly pool: Piscina;

  constructor(private readonly opts: { threads: number; pageTimeoutMs: number }) {
    this.pool = new Piscina({
      ...workerModule('./ocr-tasks.js', import.meta.url),
      minThreads: 0,
      maxThreads: opts.threads,
      // The models take seconds to load: keep an idle thread a while, but not forever (~300 MB each).
      idleTimeout: 120_000,
    });
  }

  /** `timeoutMs` (default: the per-page limit) is longer only for loading the models. */
  async run<T>(name: OcrTaskName, input: unknown, signal?: AbortSignal, timeoutMs = this.opts.pageTimeoutMs): Promise<T> {
    const limit = deadline(timeoutMs, signal);
    let result: StageResult<T>;
    try {
      result = (await this.pool.run(input, { name, signal: limit.signal })) as StageResult<T>;
    } catch (err) {
      if (limit.expired && !signal?.aborted) {
        throw new PermanentError(`OCR ${name} did not finish within ${timeoutMs} ms (RAGD_OCR_PAGE_TIMEOUT_MS) and was stopped`, 'timeout');
      }
      throw err;
    } finally {
      limit.clear();
    }
    return unwrap(result);
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
