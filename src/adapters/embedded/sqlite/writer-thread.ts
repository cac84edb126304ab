import { workerData } from 'piscina';
import { openDatabase } from './open.js';
import * as queueOps from './queue-ops.js';
import * as tenantOps from './tenant-ops.js';
import { migrate } from './schema.js';
import * as writeOps from './write-ops.js';
import { resegmentStep } from './kb-fts.js';
import { yieldCpuToQueries } from '../../../workers/thread-priority.js';

/**
 * The SQLite writer thread: the only connection that writes. Running every write here keeps
 * lock waits and large index transactions off the event loop; WAL lets the event-loop thread
 * keep reading meanwhile. Loaded by a single-thread piscina pool (see writer.ts).
 */

// Questions never wait for this thread (they read on their own connections), and its CPU goes
// mostly into index transactions: bulk work, so questions get the CPU first. The other writes
// (an upload's row, a lease) are small, and only queue in arrival order behind a commit or two.
// A lane that let them overtake queued commits was tried: it made a small tenant's document wait
// behind a large tenant's stream of bookkeeping writes (bench:fairness 1.25 → 4.7).
yieldCpuToQueries();

const db = openDatabase((workerData as { dbPath: string }).dbPath);
migrate(db);

const ops = {
  ...writeOps,
  ...queueOps,
  ...tenantOps,
  resegmentStep,
  // Readiness: the writer can take the database's write lock (an empty IMMEDIATE transaction),
  // so a database locked or made unwritable by something else reads as not ready.
  ping: () => {
    db.transaction(() => undefined).immediate();
    return true;
  },
  checkpoint: () => db.pragma('wal_checkpoint(TRUNCATE)'),
};

export type WriterOps = typeof ops;

export default function run(msg: { op: keyof WriterOps; args: unknown }): unknown {
  const fn = ops[msg.op] as (d: typeof db, a: unknown) => unknown;
  return fn(db, msg.args);
}
