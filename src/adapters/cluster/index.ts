import type { Logger } from 'pino';
import type { Config } from '../../config/config.js';
import type { Adapters } from '../../ports/adapters.js';
import type { TenantLimitsSource } from '../../ports/tenant-limits.js';
import { closeAll } from '../close-all.js';
import { FsBlobStore } from '../embedded/fs-blob-store.js';
import { BullmqJobQueue } from './bullmq/bullmq-job-queue.js';
import { createPool } from './postgres/pool.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { PostgresTenantStore } from './postgres/postgres-tenant-store.js';
import { connectRedis } from './redis/connection.js';
import { type RedisSharedLimits, redisSharedLimits } from './redis/index.js';
import { RedisEventBus } from './redis/redis-event-bus.js';

export interface ClusterAdapters extends Adapters {
  /** The BullMQ queue's depth by state and its counters, for metrics. */
  queueMetrics: BullmqJobQueue;
  /** Tenant slots, requests per minute, providers' caps and stream tickets, shared by every node through Redis. */
  sharedLimits: RedisSharedLimits;
}

/** Uploads other nodes are streaming into the shared tmp/ are never swept; a day-old one is a crash's. */
const ABANDONED_UPLOAD_MS = 24 * 60 * 60 * 1000;

/**
 * The cluster mode: PostgreSQL is the record of everything (tenants, documents, tasks, chunks,
 * full text and vectors, the pipeline's pending stages), BullMQ on Redis schedules the pipeline,
 * Redis carries events, and files live in RAGD_BLOB_DIR, which every node mounts. Reached only
 * by dynamic import from the composition root, so `pg`, `bullmq` and `ioredis` load only here.
 */
export async function createClusterAdapters(
  config: Config,
  deps: { embedder: { id: string; dim: number }; limits: TenantLimitsSource; logger: Logger },
): Promise<ClusterAdapters> {
  const log = deps.logger.child({ component: 'cluster' });
  const opened: (() => unknown)[] = [];
  const fail = async (err: unknown): Promise<never> => {
    await closeAll(opened.reverse()).catch(() => undefined);
    throw err;
  };

  const pool = createPool({
    url: config.databaseUrl!,
    max: config.postgres.poolMax,
    connectTimeoutMs: config.postgres.connectTimeoutMs,
    statementTimeoutMs: config.postgres.statementTimeoutMs,
    applicationName: 'ragd',
  });
  opened.push(() => pool.end());
  const store = new PostgresStore(pool, { defaultEmbedder: deps.embedder.id, embedDim: deps.embedder.dim, maxAttempts: config.maxAttempts });
  // Migrates under the migrator's advisory lock: replicas starting together never race.
  await store.init().catch(fail);
  const vectors = store.vectorSearch;
  if (!vectors.available) {
    log.warn({ reason: vectors.reason }, 'vector search is off: vector mode answers 501, hybrid answers from full text alone');
  }
  const tenants = new PostgresTenantStore(pool, { embedder: deps.embedder.id, embedDim: deps.embedder.dim });
  const blobs = new FsBlobStore(config.blobDir!);
  await blobs.sweepTemp(ABANDONED_UPLOAD_MS);

  const redis = await connectRedis(config.redisUrl!).catch(fail);
  opened.push(() => redis.quit());
  const bus = await RedisEventBus.connect({
    redis,
    prefix: config.redisPrefix,
    onError: (err, what) => log.warn({ err, what }, 'event bus'),
  }).catch(fail);
  opened.push(() => bus.close());
  // Closed before the connection (opened runs in reverse): hands back this process's slots.
  const sharedLimits = redisSharedLimits({ redis, prefix: config.redisPrefix, onError: (err, what) => log.warn({ err, what }, 'shared limits') });
  opened.push(() => sharedLimits.close());
  const queue = new BullmqJobQueue(pool, {
    // Takeover of a dead worker's job waits for this check: keep it within half a lease.
    redis: { url: config.redisUrl!, prefix: config.redisPrefix, stalledIntervalMs: Math.min(15_000, Math.max(500, Math.floor(config.leaseMs / 2))) },
    maxAttempts: config.maxAttempts,
    limits: deps.limits,
    logger: log.child({ part: 'queue' }),
  });
  queue.start();
  opened.push(() => queue.close());

  return {
    store,
    tenants,
    queue,
    bus,
    blobs,
    localDir: config.blobDir!,
    checks: [
      { name: 'redis', async check() { await redis.ping(); } },
      {
        name: 'vectors',
        async check() {
          return vectors.available ? undefined : { degraded: 'vector search is unavailable (PostgreSQL has no pgvector): hybrid answers from full text' };
        },
      },
    ],
    queueMetrics: queue,
    sharedLimits,
    close: () => closeAll([...opened].reverse()),
  };
}
