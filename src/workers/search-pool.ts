import { Piscina } from 'piscina';
import type { LexicalArgs, SearchRunner, VectorArgs } from '../adapters/embedded/sqlite/search-ops.js';
import type { ChunkHit } from '../ports/store.js';
import { TaskLine } from './task-line.js';
import type { ExtractInput, ExtractOutput } from '../services/query/extract-sentences.js';
import type { LocalSearchTask } from './search-tasks.js';
import { workerModule, workerUrl } from './worker-url.js';

export interface SearchPoolOptions {
  /**
   * The SQLite file every worker opens read-only; null when the index is not a local file
   * (cluster mode): the threads then only pick extractive sentences.
   */
  dbPath: string | null;
  threads: number;
  /** Tasks waiting for a thread beyond which new ones are refused with 503 (default: unbounded). */
  maxQueue?: number;
}

/**
 * A small worker pool for the query path: FTS5/vec0 searches (with the hash embedding of the
 * question, see localSearch) and extractive answering. It is
 * separate from the ingest pool on purpose: a 300-page PDF being parsed there must not make a
 * question wait for a thread. One task per worker at a time: better-sqlite3 is synchronous, so
 * a second task on the same thread would only queue behind the first.
 */
export class SearchPool implements SearchRunner {
  private readonly pool: Piscina;
  private readonly queryTasks = workerUrl('./query-tasks.js', import.meta.url);
  /**
   * A task whose query was abandoned (the client left) leaves this line without ever reaching a
   * thread. Piscina's own `signal` cannot do the same for a running task without terminating
   * its thread (and its warm connection), so a running task is left to finish and only its
   * result is dropped.
   */
  private readonly line: TaskLine;

  constructor(private readonly opts: SearchPoolOptions) {
    this.line = new TaskLine({ threads: opts.threads, pool: 'search', ...(opts.maxQueue !== undefined ? { maxQueue: opts.maxQueue } : {}) });
    this.pool = new Piscina({
      // filename, plus the execArgv that lets a worker load .ts sources (see worker-url.ts).
      ...workerModule('./search-tasks.js', import.meta.url),
      // Warm threads keep their open connection and page cache; a cold start costs a query ~50 ms.
      minThreads: opts.threads,
      maxThreads: opts.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
    });
  }

  lexical(args: LexicalArgs, signal?: AbortSignal): Promise<ChunkHit[]> {
    return this.run({ dbPath: this.localFile(), args }, { name: 'lexical' }, signal) as Promise<ChunkHit[]>;
  }

  vector(args: VectorArgs, signal?: AbortSignal): Promise<ChunkHit[]> {
    return this.run({ dbPath: this.localFile(), args }, { name: 'vector' }, signal) as Promise<ChunkHit[]>;
  }

  /** A whole local-embedder retrieval in one task (see search-tasks.ts). */
  localSearch(task: Omit<LocalSearchTask, 'dbPath'>, signal?: AbortSignal): Promise<{ vector: Float32Array; hits: ChunkHit[] }> {
    return this.run({ ...task, dbPath: this.localFile() }, { name: 'localSearch' }, signal) as Promise<{ vector: Float32Array; hits: ChunkHit[] }>;
  }

  private localFile(): string {
    if (this.opts.dbPath === null) throw new Error('this search pool has no local index to search');
    return this.opts.dbPath;
  }

  extractAnswer(input: ExtractInput, signal?: AbortSignal): Promise<ExtractOutput> {
    return this.run(input, { filename: this.queryTasks, name: 'extractAnswer' }, signal) as Promise<ExtractOutput>;
  }

  /**
   * Waits in line (leaving it if `signal` fires), then runs on a thread. If `signal` fires while
   * the task runs, the caller is answered at once with the abort; the thread finishes the task
   * and takes the next one.
   */
  private async run(task: unknown, options: { name: string; filename?: string }, signal?: AbortSignal): Promise<unknown> {
    const running = this.line.run(() => this.pool.run(task, options), signal);
    if (!signal) return running;
    running.catch(() => {}); // its outcome may go unread once the caller has left
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      running.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  stats(): { threads: number; queued: number; utilization: number; completed: number } {
    return { threads: this.pool.threads.length, queued: this.line.queued, utilization: this.pool.utilization, completed: this.pool.completed };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
