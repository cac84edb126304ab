import { Piscina } from 'piscina';
import type { LexicalArgs, SearchRunner, VectorArgs } from '../adapters/embedded/sqlite/search-ops.js';
import type { ChunkHit } from '../ports/store.js';
import { poolFull } from '../services/admission.js';
import type { ExtractInput, ExtractOutput } from '../services/query/extract-sentences.js';
import type { LocalSearchTask } from './search-tasks.js';
import { workerModule, workerUrl } from './worker-url.js';

export interface SearchPoolOptions {
  /** The SQLite file every worker opens read-only. */
  dbPath: string;
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

  constructor(private readonly opts: SearchPoolOptions) {
    this.pool = new Piscina({
      // filename, plus the execArgv that lets a worker load .ts sources (see worker-url.ts).
      ...workerModule('./search-tasks.js', import.meta.url),
      // Warm threads keep their open connection and page cache; a cold start costs a query ~50 ms.
      minThreads: opts.threads,
      maxThreads: opts.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
      maxQueue: opts.maxQueue ?? Number.POSITIVE_INFINITY,
    });
  }

  lexical(args: LexicalArgs): Promise<ChunkHit[]> {
    return this.run({ dbPath: this.opts.dbPath, args }, { name: 'lexical' }) as Promise<ChunkHit[]>;
  }

  vector(args: VectorArgs): Promise<ChunkHit[]> {
    return this.run({ dbPath: this.opts.dbPath, args }, { name: 'vector' }) as Promise<ChunkHit[]>;
  }

  /** A whole local-embedder retrieval in one task (see search-tasks.ts). */
  localSearch(task: Omit<LocalSearchTask, 'dbPath'>): Promise<{ vector: Float32Array; hits: ChunkHit[] }> {
    return this.run({ ...task, dbPath: this.opts.dbPath }, { name: 'localSearch' }) as Promise<{ vector: Float32Array; hits: ChunkHit[] }>;
  }

  /**
   * No AbortSignal on purpose: piscina aborts a running task by terminating its thread, which
   * would throw away a warm connection to save a few milliseconds of work.
   */
  extractAnswer(input: ExtractInput): Promise<ExtractOutput> {
    return this.run(input, { filename: this.queryTasks, name: 'extractAnswer' }) as Promise<ExtractOutput>;
  }

  private async run(task: unknown, options: { name: string; filename?: string }): Promise<unknown> {
    try {
      return await this.pool.run(task, options);
    } catch (err) {
      throw poolFull(err, 'search');
    }
  }

  stats(): { threads: number; queued: number; utilization: number } {
    return { threads: this.pool.threads.length, queued: this.pool.queueSize, utilization: this.pool.utilization };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
