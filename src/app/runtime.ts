import type { Logger } from 'pino';
import { createEmbeddedAdapters, type LocalIndex } from '../adapters/embedded/index.js';
import type { Config } from '../config/config.js';
import { STAGES, type PipelineStage } from '../domain/types.js';
import type { Adapters, QueryJobs } from '../ports/adapters.js';
import type { ClusterQueueMetrics } from '../observability/metrics/pipeline.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { EventBus } from '../ports/event-bus.js';
import type { JobQueue } from '../ports/job-queue.js';
import type { Store } from '../ports/store.js';
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
import { DEFAULT_QUESTION_BATCHING } from '../services/query/question-batcher.js';
import { ExtractiveAnswerer } from '../services/query/extractive-answerer.js';
import { loadQueryOptions, type QueryOptions } from '../services/query/query-options.js';
import { QueryService } from '../services/query/query-service.js';
import { Retriever } from '../services/query/retrieval.js';
import { SearchPool } from '../workers/search-pool.js';
import { logLanes, traceLanes } from '../observability/lane-observers.js';
import { startTracing, tracingEnabled } from '../observability/tracing.js';
import type { TenantLimitsSource } from '../ports/tenant-limits.js';
import { QUERY_ADMISSION, STREAM_ADMISSION, TenantAdmission } from '../services/limits/tenant-admission.js';
import { StreamTickets } from '../services/stream-tickets.js';
import type { RateLimiterFactory, SharedProviderCapFactory } from '../ports/limits.js';
import { lateSharedCaps } from '../providers/shared-slot.js';
import { createAdmission, type Admission } from '../services/admission.js';
import { stepFactory, TenantProviderRegistry } from './query-providers.js';
import { createTenancy, type Tenancy } from './tenancy.js';
import { DiskMonitor } from '../services/disk-monitor.js';
import { EmbedderRegistry, remoteEmbedder } from './embedder-registry.js';
import { createOcr } from './ocr.js';
import { deploymentMode, type DeploymentMode } from './mode.js';

/**
 * The composition root: picks adapters for the deployment and wires services to them. Nothing
 * below this file knows which adapters it runs on.
 */
export interface Runtime {
  config: Config;
  logger: Logger;
  mode: DeploymentMode;
  /** What this process runs besides serving requests. */
  roles: RuntimeRoles;
  store: Store;
  queue: JobQueue;
  bus: EventBus;
  blobs: BlobStore;
  /** Readiness checks of the adapters beyond the store (cluster: Redis). */
  adapterChecks: Adapters['checks'];
  /** The embedded store's local SQLite file and writer thread; absent in cluster mode. */
  localIndex: LocalIndex | null;
  /** The cluster queue's depth by state and its counters; absent embedded. */
  queueMetrics: ClusterQueueMetrics | null;
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
  tenantLimits: { source: TenantLimitsSource; queries: TenantAdmission; streams: TenantAdmission; rateLimiter?: RateLimiterFactory };
  /** Stream tickets: in memory embedded, in Redis in a cluster (a ticket minted on one node opens a stream on another). */
  tickets: StreamTickets;
  /** The backpressure bounds the HTTP layer applies (RAGD_MAX_CONCURRENT_QUERIES …). */
  admission: Admission;
  close(deadlineMs?: number): Promise<void>;
}

export interface QueryStack {
  service: QueryService;
  /** /retrieve query jobs: submitted here; run here when this process has the role (always embedded). */
  jobs: QueryJobs;
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

/**
 * The work a process takes on besides its HTTP surface. Embedded, one process does everything;
 * in cluster mode `ragd serve` is an API node (no stage, no query job) unless started with
 * --worker, and `ragd worker` runs the stages and query jobs its flags name.
 */
export interface RuntimeRoles {
  /** Pipeline stages this process runs. */
  stages: readonly PipelineStage[];
  /** Whether this process runs /retrieve query jobs. */
  queryJobs: boolean;
}

export const ALL_ROLES: RuntimeRoles = { stages: STAGES, queryJobs: true };
/** A process that only serves requests (an API node) or runs a command (`ragd admin`). */
export const NO_ROLES: RuntimeRoles = { stages: [], queryJobs: false };

export function createEmbedder(config: Config, pool: IngestPool, caps?: SharedProviderCapFactory): Embedder {
  const { baseUrl } = config.embed;
  return baseUrl ? remoteEmbedder({ ...config.embed, baseUrl }, config.embedDim, caps) : new HashEmbedder(pool, config.embedDim);
}

export async function createRuntime(
  config: Config,
  logger: Logger,
  opts: {
    roles?: RuntimeRoles;
    /** False: the stages' slots are set up but wait for `pipeline.start()` (tests filling a backlog first). */
    startPipeline?: boolean;
    limits?: TenantLimitsSource;
  } = {},
): Promise<Runtime> {
  const mode = deploymentMode(config);
  // Embedded, the one process is every role; an API node of a cluster runs none by default.
  const roles = opts.roles ?? (mode === 'embedded' ? ALL_ROLES : NO_ROLES);
  const tracing = await startTracing(config.tracing, logger);
  const pool = new IngestPool({
    threads: config.workers,
    taskTimeoutMs: config.taskTimeoutMs,
    maxQueue: config.admission.maxPoolQueue,
    maxMemoryMb: config.workerMaxMemoryMb,
  });
  // Providers' caps shared by every process of a cluster, bound once the adapters have connected
  // Redis (the server's embedder is built before them).
  let providerCaps: SharedProviderCapFactory | null = null;
  const caps = mode === 'cluster' ? lateSharedCaps(() => providerCaps!) : undefined;
  const embedder = createEmbedder(config, pool, caps);
  // The queue's fair scheduler reads tenant weights, which come from tenancy, which is built on
  // the adapters' tenant store: the queue gets this forwarder, bound once tenancy exists.
  let limitsSource: TenantLimitsSource | null = null;
  const lateLimits: TenantLimitsSource = {
    limitsFor: (tenantId) => limitsSource!.limitsFor(tenantId),
    limitsAtHand: (tenantId) => limitsSource?.limitsAtHand?.(tenantId),
  };
  const adapterDeps = { embedder, limits: lateLimits, logger };
  const adapters =
    mode === 'cluster'
      ? await (await import('../adapters/cluster/index.js')).createClusterAdapters(config, adapterDeps)
      : await createEmbeddedAdapters(config, adapterDeps);
  const { store, queue, bus, blobs } = adapters;
  // What only one mode has, found by its presence rather than by asking which mode this is.
  const localIndex = 'localIndex' in adapters ? adapters.localIndex : null;
  const queueMetrics = 'queueMetrics' in adapters ? adapters.queueMetrics : null;
  const shared = 'sharedLimits' in adapters ? adapters.sharedLimits : null;
  if (shared) providerCaps = shared.providerCaps;
  // `embedders` and `pipeline` are bound below; the KB service calls them only once serving.
  const kbs = new KbService(store, blobs, (t) => embedders.forTenant(t), (ids) => ids.forEach((id) => pipeline.cancel(id)));
  const tenancy = createTenancy(config, { tenants: adapters.tenants, kbs, secretDir: adapters.localDir });
  const embedders = new EmbedderRegistry(embedder, config.embed, (t) => tenancy.service.embedProviderOf(t), config.providerAllowPrivate, caps);
  // Per-tenant settings over the RAGD_TENANT_* server-wide defaults.
  const limits = opts.limits ?? tenancy.limits;
  limitsSource = limits;
  // Counted in this process (embedded) or in Redis, shared by every node (cluster).
  const slots = shared ? { slots: shared.slots } : {};
  const tenantLimits = {
    source: limits,
    queries: new TenantAdmission(limits, QUERY_ADMISSION, slots),
    streams: new TenantAdmission(limits, STREAM_ADMISSION, slots),
    ...(shared ? { rateLimiter: shared.rateLimiter } : {}),
  };
  const tickets = new StreamTickets(shared?.tickets);

  const ocr = createOcr(config, logger.child({ component: 'ocr' }), caps);
  const disk = new DiskMonitor(adapters.localDir, config.minFreeDiskBytes);
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
      concurrency: stageSlots(config.stageConcurrency, roles.stages),
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
  const query = createQueryStack(config, {
    store,
    localIndex,
    bus,
    kbs,
    embedders,
    logger,
    tenancy,
    admitQuery: (t) => tenantLimits.queries.admit(t),
    caps,
    queryJobs: (setup) => adapters.queryJobs(setup),
    runJobs: roles.queryJobs,
  });
  await query.jobs.start();
  const lanes = [embedder instanceof OpenAIEmbedder ? embedder.lane : null, query.llmLane, query.rerankLane, ocr.lane].filter(
    (l): l is ProviderLane => l !== null,
  );
  logLanes(lanes, logger.child({ component: 'providers' }));
  if (tracingEnabled()) traceLanes(lanes);
  const admission = createAdmission(config.admission, queue);
  if (roles.stages.length > 0 && opts.startPipeline !== false) await pipeline.start();

  let closed = false;
  return {
    config, logger, mode, roles, store, queue, bus, blobs, adapterChecks: adapters.checks, localIndex, queueMetrics,
    pool, embedder, embedders, kbs, documents, tasks, pipeline, disk, tenancy, query, lanes, tenantLimits, tickets, admission,
    async close(deadlineMs = config.shutdownTimeoutMs) {
      if (closed) return;
      closed = true;
      await query.jobs.close(deadlineMs);
      await pipeline.stop(deadlineMs);
      disk.close();
      await query.providers.close();
      await embedders.close();
      await query.searchPool.close();
      await pool.close();
      await ocr.pool.close();
      await ocr.lane?.close();
      await adapters.close();
      await tracing?.shutdown();
    },
  };
}

/** Slots per stage: the configured number for the stages this process runs, none for the rest. */
function stageSlots(configured: Record<PipelineStage, number>, run: readonly PipelineStage[]): Record<PipelineStage, number> {
  return Object.fromEntries(STAGES.map((stage) => [stage, run.includes(stage) ? configured[stage] : 0])) as Record<PipelineStage, number>;
}

/**
 * The query path: searches in their own small worker pool (so ingestion's CPU work never holds a
 * question up), the LLM and reranker behind their own provider lanes, the answer cache, and the
 * query-job runner. RAGD_LLM_FALLBACK=extractive answers extractively when the LLM is down.
 */
function createQueryStack(
  config: Config,
  deps: {
    store: Store;
    localIndex: LocalIndex | null;
    bus: EventBus;
    kbs: KbService;
    embedders: EmbedderRegistry;
    logger: Logger;
    tenancy: Tenancy;
    admitQuery: (tenantId: string) => Promise<() => void>;
    caps: SharedProviderCapFactory | undefined;
    queryJobs: Adapters['queryJobs'];
    runJobs: boolean;
  },
): QueryStack {
  const options = loadQueryOptions();
  const log = deps.logger.child({ component: 'query' });
  // With a local SQLite index the threads also search it; otherwise they only pick extractive sentences.
  const searchPool = new SearchPool({ dbPath: deps.localIndex?.dbPath ?? null, threads: options.searchThreads, maxQueue: config.admission.maxPoolQueue });
  deps.localIndex?.useSearchRunner(searchPool);

  const cache = new AnswerCache({ maxEntries: options.cacheMaxEntries, maxBytes: options.cacheMaxBytes, ttlMs: options.cacheTtlMs });
  const maxEntries = options.embeddingCacheEntries;
  const embeddings = new EmbeddingCache({
    maxEntries,
    maxBytes: maxEntries * deps.embedders.server.dim * 4,
    ttlMs: options.cacheTtlMs,
    batching: { ...DEFAULT_QUESTION_BATCHING, maxInFlight: options.questionEmbedCalls },
  });
  const factory = stepFactory(options, new ExtractiveAnswerer(searchPool), log, deps.caps);
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
      deps.localIndex ? ({ scope, ...rest }, signal) => searchPool.localSearch({ ...scope, ...rest }, signal) : null,
      options.hybridVectorWeight,
    ),
    answer: serverProviders.answer.step,
    answererId: serverProviders.answer.id,
    rerank: serverProviders.rerank?.step ?? null,
    rerankerId: serverProviders.rerank?.id ?? null,
    providersFor: (tenantId) => providers.forTenant(tenantId),
    cache,
  });
  const jobs = deps.queryJobs({
    store: deps.store,
    bus: deps.bus,
    query: service,
    logger: log,
    admit: deps.admitQuery,
    runJobs: deps.runJobs,
    resultTtlMs: config.resultTtlMs,
    concurrency: options.retrieveConcurrency,
    maxQueued: options.retrieveMaxQueued,
  });
  const llmLane = serverProviders.answer.lane;
  const rerankLane = serverProviders.rerank?.lane ?? null;
  return { service, jobs, searchPool, cache, embeddings, llmLane, rerankLane, providers, options };
}
