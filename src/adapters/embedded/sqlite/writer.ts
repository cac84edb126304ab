import { Piscina } from 'piscina';
import { workerModule } from '../../../workers/worker-url.js';
import type { Db } from './open.js';
import type { WriterOps } from './writer-thread.js';

type OpArgs<K extends keyof WriterOps> = WriterOps[K] extends (db: Db) => unknown
  ? undefined
  : WriterOps[K] extends (db: Db, args: infer A) => unknown
    ? A
    : never;
type OpResult<K extends keyof WriterOps> = WriterOps[K] extends (...a: never[]) => infer R ? R : never;

/**
 * Typed client of the writer thread: `await writer.call('createDocument', args)`. Calls are
 * applied one at a time in arrival order, which is what a single SQLite writer does anyway.
 */
export class SqliteWriter {
  private readonly pool: Piscina;

  constructor(dbPath: string) {
    this.pool = new Piscina({
      ...workerModule('./writer-thread.js', import.meta.url),
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      concurrentTasksPerWorker: 1,
      workerData: { dbPath },
    });
  }

  call<K extends keyof WriterOps>(op: K, ...args: OpArgs<K> extends undefined ? [] : [OpArgs<K>]): Promise<OpResult<K>> {
    return this.pool.run({ op, args: args[0] }) as Promise<OpResult<K>>;
  }

  get queued(): number {
    return this.pool.queueSize;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
