import { EventEmitter } from 'node:events';
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
/** Events for metrics: every writer call, with its time in the queue and on the thread. */
export interface WriterEvents {
  call: [info: { op: string; seconds: number; ok: boolean }];
}

export class SqliteWriter {
  private readonly pool: Piscina;
  readonly events = new EventEmitter<WriterEvents>();

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
    const running = this.pool.run({ op, args: args[0] }) as Promise<OpResult<K>>;
    if (this.events.listenerCount('call') === 0) return running;
    const started = performance.now();
    const report = (ok: boolean) => this.events.emit('call', { op, seconds: (performance.now() - started) / 1000, ok });
    return running.then(
      (value) => (report(true), value),
      (err: unknown) => {
        report(false);
        throw err;
      },
    );
  }

  get queued(): number {
    return this.pool.queueSize;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
