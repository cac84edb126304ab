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

/** Events for metrics: every writer call, with its time in the queue and on the thread. */
export interface WriterEvents {
  call: [info: { op: string; seconds: number; ok: boolean }];
}

/**
 * Bulk work: a document's whole index transaction (FTS5 and vector inserts), the bulk of the
 * writer's CPU during an ingest. The writer thread runs at background priority (see
 * thread-priority.ts), so under a query load one of these can take a while; it therefore only
 * starts when nothing else waits, and an upload's row insert or a readiness ping never queues
 * behind a backlog of them.
 */
const BULK_OPS: ReadonlySet<keyof WriterOps> = new Set(['commitIndex']);

/**
 * Typed client of the writer thread: `await writer.call('createDocument', args)`. Calls are
 * applied one at a time, which is what a single SQLite writer does anyway: other calls in arrival
 * order, bulk calls (BULK_OPS, in their own arrival order) whenever the thread is otherwise idle.
 */
export class SqliteWriter {
  private readonly pool: Piscina;
  readonly events = new EventEmitter<WriterEvents>();
  /** Calls handed to the thread's pool and not finished yet. */
  private inFlight = 0;
  /** Bulk calls waiting for the thread to be idle, oldest first. */
  private readonly held: Array<() => void> = [];

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
    const submit = () => this.submit(op, args[0]) as Promise<OpResult<K>>;
    const mustWait = BULK_OPS.has(op) && (this.inFlight > 0 || this.held.length > 0);
    const running = mustWait ? new Promise<void>((go) => this.held.push(go)).then(submit) : submit();
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
    return this.pool.queueSize + this.held.length;
  }

  private async submit(op: keyof WriterOps, args: unknown): Promise<unknown> {
    this.inFlight++;
    try {
      return await this.pool.run({ op, args });
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) this.held.shift()?.();
    }
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
