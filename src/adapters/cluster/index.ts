import type { Logger } from 'pino';
import type { Config } from '../../config/config.js';
import type { Adapters } from '../../ports/adapters.js';
import type { TenantLimitsSource } from '../../ports/tenant-limits.js';
import { closeAll } from '../close-all.js';
import { FsBlobStore } from '../embedded/fs-blob-store.js';
import { createPool } from './postgres/pool.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { PostgresTenantStore } from './postgres/postgres-tenant-store.js';

/**
 * The cluster mode: PostgreSQL is the record of everything (tenants, documents, tasks, chunks,
 * full text and vectors), BullMQ on Redis schedules the pipeline, Redis carries events and shared
 * limits, and files live in RAGD_BLOB_DIR, which every node mounts. Reached only by dynamic
 * import from the composition root, so `pg`, `bullmq` and `ioredis` load only in this mode.
 */
export async function createClusterAdapters(
  config: Config,
  deps: { embedder: { id: string; dim: number }; limits: TenantLimitsSource; logger: Logger },
): Promise<Adapters> {
  const log = deps.logger.child({ component: 'cluster' });
  const pool = createPool({
    url: config.databaseUrl!,
    max: config.postgres.poolMax,
    connectTimeoutMs: config.postgres.connectTimeoutMs,
    statementTimeoutMs: config.postgres.statementTimeoutMs,
    applicationName: 'ragd',
  });
  const store = new PostgresStore(pool, { defaultEmbedder: deps.embedder.id, embedDim: deps.embedder.dim, maxAttempts: config.maxAttempts });
  try {
    // Migrates under the migrator's advisory lock: replicas starting together never race.
    await store.init();
  } catch (err) {
    await pool.end();
    throw err;
  }
  if (!store.vectorSearch.available) {
    log.warn({ reason: store.vectorSearch.reason }, 'vector search is off: vector mode answers 501 and hybrid answers from full text alone');
  }
  const tenants = new PostgresTenantStore(pool, { embedder: deps.embedder.id, embedDim: deps.embedder.dim });
  const blobs = new FsBlobStore(config.blobDir!);
  // Other nodes stream uploads into the same tmp/ right now: only leftovers a day old are a crash's.
  await blobs.sweepTemp(24 * 60 * 60 * 1000);
  void blobs;
  void tenants;
  await pool.end();
  throw new Error('cluster adapters: queue and event bus not wired yet');
  return {} as Adapters & { close(): Promise<void> } & { _: typeof closeAll };
}
