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
import { AnswerCache } from '../services/query/answer-cache.js';
import { EmbeddingCache } from '../services/query/embedding-cache.js';
import { ExtractiveAnswerer } from '../services/query/extractive-answerer.js';
import { loadQueryOptions, type QueryOptions } from '../services/query/query-options.js';
import { QueryService } from '../services/query/query-service.js';
import { RetrieveJobs } from '../services/query/retrieve-jobs.js';
import { Retriever } from '../services/query/retrieval.js';
import { SearchPool } from '../workers/search-pool.js';
import { logLanes, traceLanes } from '../observability/lane-observers.js';
import { startTracing, tracingEnabled } from '../observability/tracing.js';
import type { TenantLimitsSource } from '../ports/tenant-limits.js';
import { QUERY_ADMISSION, TenantAdmission } from '../services/limits/tenant-admission.js';
import { createAdmission, type Admission } from '../services/admission.js';
import { stepFactory, TenantProviderRegistry } from './query-providers.js';
import { createTenancy, type Tenancy } from './tenancy.js';
import { DiskMonitor } from '../services/disk-monitor.js';
import { EmbedderRegistry, remoteEmbedder } from './embedder-registry.js';
import { createOcr } from './ocr.js';

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
  /** The server's embedder (RAGD_EMBED_*, else the local hash embedder). */
  embedder: Embedder;
  /** Each tenant's embedder (its own embedding settings, else the server's) and each KB's. */
  embedders: EmbedderRegistry;
  kbs: KbService;
  documents: DocumentService;
  tasks: TaskService;
  pipeline: PipelineService;
  /** Free space of the data directory (readiness, metrics, pipeline pause). */
  disk: DiskMonitor;
  /** Tenants, API keys, per-tenant settings and limits. */
  tenancy: Tenancy;
  /** The query path: service, query jobs, and the pieces metrics and tests look at. */
  query: QueryStack;
  /** Every outbound provider lane (embed, llm, rerank) that is configured. */
  lanes: ProviderLane[];
  /** Per-tenant limits, and the count of queries each tenant runs (HTTP and query jobs share it). */
  tenantLimits: { source: TenantLimitsSource; queries: TenantAdmission };
  /** The backpressure bounds the HTTP layer applies (RAGD_MAX_CONCURRENT_QUERIES …). */
  admission: Admission;
  close(deadlineMs?: number): Promise<void>;
}

export interface QueryStack {
  service: QueryService;
  jobs: RetrieveJobs;
  searchPool: SearchPool;
  cache: AnswerCache;
  embeddings: EmbeddingCache;
  /** Null when no LLM / reranker is configured. */
  llmLane: ProviderLane | null;
  rerankLane: ProviderLane | null;
  /** Each tenant's LLM and reranker (its own settings, else the server's). */
  providers: TenantProviderRegistry;
  options: QueryOptions;
}

export function createEmbedder(config: Config, pool: IngestPool): Embedder {
  const { baseUrl } = config.embed;
  return baseUrl ? remoteEmbedder({ ...config.embed, baseUrl }, config.embedDim) : new HashEmbedder(pool, config.embedDim);
}

export async function createRuntime(
  config: Config,
  logger: Logger,
  opts: { runPipeline?: boolean; limits?: TenantLimitsSource } = {},
): Promise<Runtime> {
  if (config.redisUrl || config.databaseUrl) {
    throw new Error(
      'RAGD_REDIS_URL / RAGD_DATABASE_URL select the cluster adapters, which this build does not include yet; unset them to run embedded',
    );
  }
  const tracing = await startTracing(config.tracing, logger);
  const pool = new IngestPool({
    threads: config.workers,
    taskTimeoutMs: config.taskTimeoutMs,
    maxQueue: config.admission.maxPoolQueue,
    maxMemoryMb: config.workerMaxMemoryMb,
  });
  const embedder = createEmbedder(config, pool);
  const store = new SqliteStore({
    dataDir: config.dataDir,
    defaultEmbedder: embedder.id,
    embedDim: embedder.dim,
    maxAttempts: config.maxAttempts,
    logger: logger.child({ component: 'store' }),
  });
  await store.init();
  const blobs = new FsBlobStore(config.dataDir);
  await blobs.sweepTemp();
  // `embedders` and `pipeline` are bound below; the KB service calls them only once serving.
  const kbs = new KbService(store, blobs, (t) => embedders.forTenant(t), (ids) => ids.forEach((id) => pipeline.cancel(id)));
  const tenancy = createTenancy(config, { store, kbs, embedder });
  const embedders = new EmbedderRegistry(embedder, config.embed, (t) => tenancy.service.embedProviderOf(t), config.providerAllowPrivate);
  // Per-tenant settings over the RAGD_TENANT_* server-wide defaults.
  const limits = opts.limits ?? tenancy.limits;
  const tenantLimits = { source: limits, queries: new TenantAdmission(limits, QUERY_ADMISSION) };
  const queue = new SqliteJobQueue(store.writer, config.maxAttempts, {
    limits,
    onError: (err) => logger.warn({ err }, 'reading tenant pipeline weights failed'),
  });
  const bus = new MemoryEventBus();

  const ocr = createOcr(config, logger.child({ component: 'ocr' }));
  const disk = new DiskMonitor(config.dataDir, config.minFreeDiskBytes);
  const pipeline = new PipelineService(
    {
      ocr: ocr.deps,
      diskLow: () => disk.low,
      store,
      blobs,
      pool,
      queue,
      bus,
      embedders,
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
  const documents = new DocumentService(
    { store, queue, bus, blobs, kbs, embedders, cancelRunning: (id) => pipeline.cancel(id), limits },
    { maxUploadBytes: config.maxUploadBytes },
  );
  const tasks = new TaskService(store, bus, kbs);
  const query = createQueryStack(config, { store, bus, kbs, embedders, logger, tenancy, admitQuery: (t) => tenantLimits.queries.admit(t) });
  const lanes = [embedder instanceof OpenAIEmbedder ? embedder.lane : null, query.llmLane, query.rerankLane, ocr.lane].filter(
    (l): l is ProviderLane => l !== null,
  );
  logLanes(lanes, logger.child({ component: 'providers' }));
  if (tracingEnabled()) traceLanes(lanes);
  const admission = createAdmission(config.admission, queue);
  if (opts.runPipeline ?? true) await pipeline.start();

  let closed = false;
  return {
    config, logger, store, queue, bus, blobs, pool, embedder, embedders, kbs, documents, tasks, pipeline, disk, tenancy, query, lanes, tenantLimits, admission,
    async close(deadlineMs = config.shutdownTimeoutMs) {
      if (closed) return;
      closed = true;
      await query.jobs.close(deadlineMs);
      await pipeline.stop(deadlineMs);
      disk.close();
      await query.providers.close();
      await embedders.close();
      await query.searchPool.close();
      await queue.close();
      await bus.close();
      await pool.close();
      await ocr.pool.close();
      await ocr.lane?.close();
      tenancy.store.close();
      await store.close();
      await tracing?.shutdown();
    },
  };
}

/**
 * The query path: searches in their own small worker pool (so ingestion's CPU work never holds a
 * question up), the LLM and reranker behind their own provider lanes, the answer cache, and the
 * query-job runner. RAGD_LLM_FALLBACK=extractive answers extractively when the LLM is down.
 */
function createQueryStack(
  config: Config,
  deps: {
    store: SqliteStore;
    bus: MemoryEventBus;
    kbs: KbService;
    embedders: EmbedderRegistry;
    logger: Logger;
    tenancy: Tenancy;
    admitQuery: (tenantId: string) => Promise<() => void>;
  },
): QueryStack {
  const options = loadQueryOptions();
  const log = deps.logger.child({ component: 'query' });
  const searchPool = new SearchPool({ dbPath: deps.store.dbPath, threads: options.searchThreads, maxQueue: config.admission.maxPoolQueue });
  deps.store.setSearchRunner(searchPool);

  const cache = new AnswerCache({ maxEntries: options.cacheMaxEntries, maxBytes: options.cacheMaxBytes, ttlMs: options.cacheTtlMs });
  const maxEntries = options.embeddingCacheEntries;
  const embeddings = new EmbeddingCache({ maxEntries, maxBytes: maxEntries * deps.embedders.server.dim * 4, ttlMs: options.cacheTtlMs });
  const factory = stepFactory(options, new ExtractiveAnswerer(searchPool), log);
  const providers = new TenantProviderRegistry(
    factory,
    { llm: config.llm, rerank: config.rerank },
    { answer: factory.answer(config.llm), rerank: config.rerank.baseUrl ? factory.rerank(config.rerank) : null },
    (tenantId, kind) => deps.tenancy.service.providerOf(tenantId, kind),
    config.providerAllowPrivate,
  );
  const serverProviders = { answer: providers.defaults.answer, rerank: providers.defaults.rerank };
  const service = new QueryService({
    kbs: deps.kbs,
    retriever: new Retriever(
      deps.store,
      embeddings,
      deps.embedders,
      ({ scope, ...rest }, signal) => searchPool.localSearch({ ...scope, ...rest }, signal),
      options.hybridVectorWeight,
    ),
    answer: serverProviders.answer.step,
    answererId: serverProviders.answer.id,
    rerank: serverProviders.rerank?.step ?? null,
    rerankerId: serverProviders.rerank?.id ?? null,
    providersFor: (tenantId) => providers.forTenant(tenantId),
    cache,
  });
  const jobs = new RetrieveJobs(
    { store: deps.store, bus: deps.bus, query: service, logger: log, admit: deps.admitQuery },
    { resultTtlMs: config.resultTtlMs, concurrency: options.retrieveConcurrency, maxQueued: options.retrieveMaxQueued },
  );
  jobs.start();
  const llmLane = serverProviders.answer.lane;
  const rerankLane = serverProviders.rerank?.lane ?? null;
  return { service, jobs, searchPool, cache, embeddings, llmLane, rerankLane, providers, options };
}
