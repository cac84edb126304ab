import type { Logger } from 'pino';
import type { Config } from '../../config/config.js';
import { closeAll } from '../close-all.js';
import { RetrieveJobs } from '../../services/query/retrieve-jobs.js';
import type { Adapters } from '../../ports/adapters.js';
import type { TenantLimitsSource } from '../../ports/tenant-limits.js';
import { FsBlobStore } from './fs-blob-store.js';
import { MemoryEventBus } from './memory-event-bus.js';
import type { SearchRunner } from './sqlite/search-ops.js';
import { SqliteJobQueue } from './sqlite/sqlite-job-queue.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import { SqliteTenantStore } from './sqlite/sqlite-tenant-store.js';
import type { SqliteWriter } from './sqlite/writer.js';

/**
 * What only the embedded store has: one SQLite file that the query worker pool opens read-only
 * to search in its own threads, and a single writer thread whose timings feed the metrics.
 */
export interface LocalIndex {
  dbPath: string;
  /** Routes the store's own searches through the search threads. */
  useSearchRunner(runner: SearchRunner): void;
  writer: SqliteWriter;
}

export interface EmbeddedAdapters extends Adapters {
  localIndex: LocalIndex;
}

/**
 * The single-process mode: everything in the data directory. SQLite holds metadata, index and
 * the job queue (one writer thread); events stay in process.
 */
export async function createEmbeddedAdapters(
  config: Config,
  deps: { embedder: { id: string; dim: number }; limits: TenantLimitsSource; logger: Logger },
): Promise<EmbeddedAdapters> {
  const store = new SqliteStore({
    dataDir: config.dataDir,
    defaultEmbedder: deps.embedder.id,
    embedDim: deps.embedder.dim,
    maxAttempts: config.maxAttempts,
    logger: deps.logger.child({ component: 'store' }),
  });
  await store.init();
  const tenants = new SqliteTenantStore(store.dbPath, store.writer, { embedder: deps.embedder.id, embedDim: deps.embedder.dim });
  const queue = new SqliteJobQueue(store.writer, config.maxAttempts, {
    limits: deps.limits,
    onError: (err) => deps.logger.warn({ err }, 'reading tenant pipeline weights failed'),
  });
  const bus = new MemoryEventBus();
  const blobs = new FsBlobStore(config.dataDir);
  // One process owns the directory: whatever is in tmp/ was an upload cut off by a crash.
  await blobs.sweepTemp();
  return {
    store,
    tenants,
    queue,
    bus,
    blobs,
    localDir: config.dataDir,
    checks: [],
    // One process does everything: jobs always run here, whatever the roles say.
    queryJobs: ({ bus, store: jobStore, query, logger, admit, resultTtlMs, concurrency, maxQueued }) =>
      new RetrieveJobs({ store: jobStore, bus, query, logger, admit }, { resultTtlMs, concurrency, maxQueued }),
    localIndex: { dbPath: store.dbPath, useSearchRunner: (runner) => store.setSearchRunner(runner), writer: store.writer },
    close: () => closeAll([() => queue.close(), () => bus.close(), () => tenants.close(), () => store.close()]),
  };
}
