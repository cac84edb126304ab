import type { Logger } from 'pino';
import { FsBlobStore } from '../adapters/embedded/fs-blob-store.js';
import { MemoryEventBus } from '../adapters/embedded/memory-event-bus.js';
import { SqliteJobQueue } from '../adapters/embedded/sqlite/sqlite-job-queue.js';
import { SqliteStore } from '../adapters/embedded/sqlite/sqlite-store.js';
import type { Config } from '../config/config.js';
import type { Embedder } from '../ports/models.js';
import { HashEmbedder } from '../providers/hash-embedder.js';
import { ProviderLane } from '../providers/lane.js';
import { OpenAIEmbedder } from '../providers/openai-embedder.js';
import { DocumentService } from '../services/document-service.js';
import { KbService } from '../services/kb-service.js';
import { PipelineService } from '../services/pipeline/pipeline-service.js';
import { TaskService } from '../services/task-service.js';
import { IngestPool } from '../workers/ingest-pool.js';

/**
 * The composition root: picks adapters for the deployment and wires services to them. Nothing
 * below this file knows which adapters it runs on.
 */
export interface Runtime {
  config: Config;
  logger: Logger;
  store: SqliteStore;
  queue: SqliteJobQueue;
  bus: MemoryEventBus;
  blobs: FsBlobStore;
  pool: IngestPool;
  embedder: Embedder;
  kbs: KbService;
  documents: DocumentService;
  tasks: TaskService;
  pipeline: PipelineService;
  close(deadlineMs?: number): Promise<void>;
}

export function createEmbedder(config: Config, pool: IngestPool): Embedder {
  if (!config.embed.baseUrl) return new HashEmbedder(pool, config.embedDim);
  const lane = new ProviderLane({
    name: 'embed',
    concurrency: config.embed.concurrency,
    requestsPerMinute: config.embed.requestsPerMinute,
    timeoutMs: config.embed.timeoutMs,
    maxRetries: config.embed.maxRetries,
    backoffBaseMs: 500,
    breaker: { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 30_000 },
  });
  return new OpenAIEmbedder({
    lane,
    baseURL: config.embed.baseUrl,
    apiKey: config.embed.apiKey,
    model: config.embed.model,
    dim: config.embedDim,
  });
}

export async function createRuntime(config: Config, logger: Logger, opts: { runPipeline?: boolean } = {}): Promise<Runtime> {
  if (config.redisUrl || config.databaseUrl) {
    throw new Error(
      'RAGD_REDIS_URL / RAGD_DATABASE_URL select the cluster adapters, which this build does not include yet; unset them to run embedded',
    );
  }
  const pool = new IngestPool({ threads: config.workers, taskTimeoutMs: config.taskTimeoutMs });
  const embedder = createEmbedder(config, pool);
  const store = new SqliteStore({
    dataDir: config.dataDir,
    defaultEmbedder: embedder.id,
    embedDim: embedder.dim,
    maxAttempts: config.maxAttempts,
  });
  await store.init();
  const queue = new SqliteJobQueue(store.writer, config.maxAttempts);
  const bus = new MemoryEventBus();
  const blobs = new FsBlobStore(config.dataDir);
  await blobs.sweepTemp();

  const pipeline = new PipelineService(
    {
      store,
      blobs,
      pool,
      queue,
      bus,
      embedder,
      logger: logger.child({ component: 'pipeline' }),
      parseLimits: config.parse,
      chunking: { chunkTokens: config.chunkTokens, overlapTokens: config.chunkOverlap },
    },
    {
      concurrency: config.stageConcurrency,
      leaseMs: config.leaseMs,
      backoffBaseMs: config.backoffBaseMs,
      backoffMaxMs: config.backoffMaxMs,
    },
  );
  const kbs = new KbService(store, blobs, embedder, (ids) => ids.forEach((id) => pipeline.cancel(id)));
  const documents = new DocumentService(
    { store, queue, bus, blobs, kbs, cancelRunning: (id) => pipeline.cancel(id) },
    { maxUploadBytes: config.maxUploadBytes, embedderId: embedder.id },
  );
  const tasks = new TaskService(store, bus, kbs);
  if (opts.runPipeline ?? true) await pipeline.start();

  let closed = false;
  return {
    config, logger, store, queue, bus, blobs, pool, embedder, kbs, documents, tasks, pipeline,
    async close(deadlineMs = config.shutdownTimeoutMs) {
      if (closed) return;
      closed = true;
      await pipeline.stop(deadlineMs);
      await queue.close();
      await bus.close();
      await pool.close();
      await store.close();
    },
  };
}
