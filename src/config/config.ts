import { cpus } from 'node:os';
import { resolve } from 'node:path';
import type { ParseLimits } from '../domain/types.js';

/**
 * Configuration comes from `RAGD_*` environment variables; CLI flags mirror them
 * (`--data-dir x` is `RAGD_DATA_DIR=x`). Everything has a default that needs nothing external.
 */
export interface ProviderConfig {
  baseUrl: string | null;
  model: string;
  apiKey: string;
  /** The pinned concurrency (RAGD_*_CONCURRENCY); when it is not set, the limit adapts instead. */
  concurrency: number;
  /**
   * Bounds of the adaptive concurrency (RAGD_*_MIN_CONCURRENCY, RAGD_*_MAX_CONCURRENCY): it starts at
   * max, shrinks on 429/503 and rising latency, grows back while latency holds. Null when pinned.
   */
  adaptive: { min: number; max: number } | null;
  requestsPerMinute: number;
  timeoutMs: number;
  maxRetries: number;
  /**
   * Set on a tenant's own provider (never from the environment): its calls go through the egress
   * policy (providers/egress.ts) with this RAGD_PROVIDER_ALLOW_PRIVATE.
   */
  tenantEgress?: { allowPrivate: boolean };
}

export interface PostgresConfig {
  /** RAGD_PG_POOL_MAX: most connections one process opens (default 10). */
  poolMax: number;
  /** RAGD_PG_CONNECT_TIMEOUT_MS: longest wait for a connection before a call fails (default 5 s). */
  connectTimeoutMs: number;
  /** RAGD_PG_STATEMENT_TIMEOUT_MS: the server cancels any statement running longer (default 60 s). */
  statementTimeoutMs: number;
}

export interface Config {
  port: number;
  host: string;
  /** Host names served in open mode besides loopback ones (RAGD_ALLOWED_HOSTS, comma-separated). */
  allowedHosts: string[];
  /** Timeouts and caps against slow or idle clients (http/plugins/slow-clients.ts). */
  httpLimits: HttpLimitsConfig;
  dataDir: string;
  logLevel: string;
  /** Largest accepted upload per file (413 beyond it). */
  maxUploadBytes: number;
  /** Largest JSON request body (413 beyond it). */
  maxJsonBytes: number;
  maxFilesPerRequest: number;
  /** Worker threads for parsing, chunking and embedding. */
  workers: number;
  /** Jobs of one stage that may run at once in this process. */
  stageConcurrency: { parse: number; ocr: number; chunk: number; embed: number; index: number };
  leaseMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** A parse/chunk/embed task running longer than this is cut off and fails its document. */
  taskTimeoutMs: number;
  chunkTokens: number;
  chunkOverlap: number;
  embedDim: number;
  parse: ParseLimits;
  /** Below this much free space on the data directory, /readyz fails and the pipeline pauses. */
  minFreeDiskBytes: number;
  /** Each ingest worker thread's heap limit in MB; a task past it fails its document for good. */
  workerMaxMemoryMb: number;
  embed: ProviderConfig;
  llm: ProviderConfig;
  rerank: ProviderConfig;
  redisUrl: string | null;
  databaseUrl: string | null;
  /**
   * RAGD_BLOB_DIR: where uploaded files and stage outputs live in cluster mode, a directory every
   * node mounts (NFS, a ReadWriteMany volume). Required there: a node writing uploads to its own
   * disk would leave workers on other machines unable to read them. Embedded: unused (the data
   * directory holds everything).
   */
  blobDir: string | null;
  /**
   * RAGD_REDIS_PREFIX: the namespace of every Redis key and channel of this deployment (BullMQ
   * queues, events, limits), so several deployments can share one Redis. Default `ragd`.
   */
  redisPrefix: string;
  /** The PostgreSQL pool of each cluster process (used only with RAGD_DATABASE_URL). */
  postgres: PostgresConfig;
  adminKey: string | null;
  /** Server-wide per-tenant limits (RAGD_TENANT_*); null = unlimited. */
  tenantLimits: TenantLimitDefaults;
  /** JWT bearer tokens (verified with jose); null fields mean that kind is not accepted. */
  jwt: JwtConfig;
  /** Tenants' provider URLs may name private, loopback and link-local addresses (RAGD_PROVIDER_ALLOW_PRIVATE). */
  providerAllowPrivate: boolean;
  /** Seals tenants' provider keys at rest; unset = a key file generated in the data dir. */
  secretKey: string | null;
  /** How long a query job's result is kept. */
  resultTtlMs: number;
  shutdownTimeoutMs: number;
  /** OpenTelemetry tracing, from the standard OTEL_* variables: on only when an OTLP endpoint is set. */
  tracing: { endpoint: string | null; serviceName: string };
  /** Backpressure bounds (services/admission.ts): work beyond them gets 503 with Retry-After. */
  admission: AdmissionConfig;
  ocr: OcrConfig;
}

export interface OcrConfig {
  /** The engine that reads pages: a local one (`paddle`, `tesseract`) or `vision` (RAGD_OCR_BASE_URL). */
  engine: 'paddle' | 'tesseract' | 'vision';
  /** The local engine a vision model falls back to when it is down; null: none (pages wait and retry). */
  fallback: 'paddle' | 'tesseract' | null;
  /** The vision model's endpoint and lane limits (RAGD_OCR_BASE_URL, _MODEL, _API_KEY, _CONCURRENCY, _RPM, _TIMEOUT_MS, _MAX_RETRIES). */
  vision: ProviderConfig;
  /** OCR worker threads (each holds its models, ~300 MB). */
  threads: number;
  /** Resolution PDF pages are rendered at. */
  dpi: number;
  /** Most pages OCR'd in one document; more fails it. */
  maxPages: number;
  /** Largest page or image, in pixels; larger fails it. */
  maxPixels: number;
  /** Time limit for rendering or reading one page. */
  pageTimeoutMs: number;
}

export interface HttpLimitsConfig {
  /** All request headers must arrive within this (408 beyond it). */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this (408); 0 = no limit. */
  requestTimeoutMs: number;
  /** A request body that sends nothing for this long has its connection closed. */
  bodyIdleTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Connections one client address may hold open at once; more are closed at once. */
  maxConnectionsPerAddress: number;
}

export interface AdmissionConfig {
  /** Queries (POST /query) answered at once by this process. */
  maxConcurrentQueries: number;
  /** Queries that may wait for a slot; 0 refuses at once beyond maxConcurrentQueries. */
  maxQueuedQueries: number;
  /** A query waiting longer than this for a slot is refused. */
  queryQueueTimeoutMs: number;
  /** Tasks that may wait for a thread in each worker pool. */
  maxPoolQueue: number;
  /** Documents queued or in a pipeline stage beyond which uploads are refused. */
  maxPipelineBacklog: number;
  /** Seconds sent in Retry-After with a 503 overloaded. */
  retryAfterSec: number;
}

export interface TenantLimitDefaults {
  requestsPerMinute: number | null;
  /** Half of RAGD_MAX_CONCURRENT_QUERIES unless set: never unlimited by default. */
  maxConcurrentQueries: number | null;
  maxStoredBytes: number | null;
  maxDocuments: number | null;
  maxEventStreams: number | null;
}

export interface JwtConfig {
  /** HS256 shared secret. */
  secret: string | null;
  /** RS256/ES256 keys from this JWKS URL. */
  jwksUrl: string | null;
  /** The claim that names the tenant. */
  tenantClaim: string;
  audience: string | null;
  issuer: string | null;
  /** How long fetched JWKS keys are trusted, and the least time between two refetches. */
  jwksCacheMs: number;
  jwksCooldownMs: number;
  /** A token whose `exp` is further than this from now is refused (RAGD_JWT_MAX_TTL, seconds). */
  maxTtlSec: number;
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, fallback: string): string {
  const v = env[`RAGD_${name}`];
  return v === undefined || v === '' ? fallback : v;
}

function optional(env: Env, name: string): string | null {
  const v = env[`RAGD_${name}`];
  return v === undefined || v === '' ? null : v;
}

function optionalPath(env: Env, name: string): string | null {
  const v = optional(env, name);
  return v === null ? null : resolve(v);
}

function int(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[`RAGD_${name}`];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`RAGD_${name} must be an integer >= ${min}, got "${raw}"`);
  }
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = optional(env, name);
  if (raw === null) return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new Error(`RAGD_${name} must be true or false, got "${raw}"`);
}

/** A comma-separated list; empty when unset. */
function list(env: Env, name: string): string[] {
  return (optional(env, name) ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** An integer limit that is absent (unlimited) unless set. */
function limit(env: Env, name: string): number | null {
  return optional(env, name) === null ? null : int(env, name, 0, 1);
}

function provider(env: Env, prefix: string, defaults: { model: string; maxConcurrency: number }): ProviderConfig {
  const min = int(env, `${prefix}_MIN_CONCURRENCY`, 1, 1);
  const max = int(env, `${prefix}_MAX_CONCURRENCY`, Math.max(min, defaults.maxConcurrency), 1);
  if (max < min) throw new Error(`RAGD_${prefix}_MAX_CONCURRENCY (${max}) must be >= RAGD_${prefix}_MIN_CONCURRENCY (${min})`);
  const pinned = optional(env, `${prefix}_CONCURRENCY`) !== null;
  return {
    baseUrl: optional(env, `${prefix}_BASE_URL`),
    model: str(env, `${prefix}_MODEL`, defaults.model),
    apiKey: str(env, `${prefix}_API_KEY`, 'none'),
    concurrency: int(env, `${prefix}_CONCURRENCY`, max, 1),
    adaptive: pinned ? null : { min, max },
    requestsPerMinute: int(env, `${prefix}_RPM`, 6000, 1),
    timeoutMs: int(env, `${prefix}_TIMEOUT_MS`, 60_000, 1),
    maxRetries: int(env, `${prefix}_MAX_RETRIES`, 3, 0),
  };
}

export function loadConfig(env: Env = process.env): Config {
  const cores = Math.max(1, cpus().length);
  const stage = int(env, 'STAGE_CONCURRENCY', 4, 1);
  // A query mostly waits (on the model, on a search thread): hundreds in flight cost little
  // memory; past these the process sheds load instead of queueing without bound.
  const maxConcurrentQueries = int(env, 'MAX_CONCURRENT_QUERIES', 256, 1);
  return {
    port: int(env, 'PORT', 8080),
    host: str(env, 'HOST', '127.0.0.1'),
    allowedHosts: list(env, 'ALLOWED_HOSTS'),
    httpLimits: {
      headersTimeoutMs: int(env, 'HEADERS_TIMEOUT_MS', 20_000, 100),
      // Long enough for the largest upload over a slow link; stalls are caught by the idle timer.
      requestTimeoutMs: int(env, 'REQUEST_TIMEOUT_MS', 600_000, 0),
      bodyIdleTimeoutMs: int(env, 'BODY_IDLE_TIMEOUT_MS', 30_000, 100),
      keepAliveTimeoutMs: int(env, 'KEEP_ALIVE_TIMEOUT_MS', 72_000, 100),
      maxConnectionsPerAddress: int(env, 'MAX_CONNECTIONS_PER_ADDRESS', 1024, 1),
    },
    dataDir: resolve(str(env, 'DATA_DIR', './data')),
    logLevel: str(env, 'LOG_LEVEL', 'info'),
    maxUploadBytes: int(env, 'MAX_UPLOAD_BYTES', 512 * 1024 * 1024, 1),
    maxJsonBytes: int(env, 'MAX_JSON_BYTES', 16 * 1024 * 1024, 1024),
    maxFilesPerRequest: int(env, 'MAX_FILES_PER_REQUEST', 100, 1),
    // One core stays free for the event loop and the SQLite writer, so queries keep their latency.
    workers: int(env, 'WORKERS', Math.max(1, cores - 1), 1),
    stageConcurrency: {
      parse: int(env, 'PARSE_CONCURRENCY', stage, 1),
      // Documents OCR'd at once (not RAGD_OCR_CONCURRENCY: that is the vision model's lane); their
      // pages share the OCR pool's threads (RAGD_OCR_THREADS).
      ocr: int(env, 'OCR_DOCUMENTS', 2, 1),
      chunk: int(env, 'CHUNK_CONCURRENCY', stage, 1),
      embed: int(env, 'EMBED_CONCURRENCY', stage, 1),
      index: int(env, 'INDEX_CONCURRENCY', 2, 1),
    },
    leaseMs: int(env, 'LEASE_MS', 30_000, 100),
    maxAttempts: int(env, 'MAX_ATTEMPTS', 5, 1),
    backoffBaseMs: int(env, 'BACKOFF_BASE_MS', 500, 1),
    backoffMaxMs: int(env, 'BACKOFF_MAX_MS', 60_000, 1),
    taskTimeoutMs: int(env, 'TASK_TIMEOUT_MS', 120_000, 100),
    chunkTokens: int(env, 'CHUNK_TOKENS', 400, 16),
    chunkOverlap: int(env, 'CHUNK_OVERLAP', 40, 0),
    embedDim: int(env, 'EMBED_DIM', 512, 8),
    parse: {
      maxUnzippedBytes: int(env, 'MAX_UNZIPPED_BYTES', 256 * 1024 * 1024, 1),
      maxZipRatio: int(env, 'MAX_ZIP_RATIO', 100, 1),
      maxPdfPages: int(env, 'MAX_PDF_PAGES', 2000, 1),
      maxTextChars: int(env, 'MAX_TEXT_CHARS', 50_000_000, 1),
      maxDocxXmlBytes: int(env, 'MAX_DOCX_XML_BYTES', 64 * 1024 * 1024, 1),
    },
    workerMaxMemoryMb: int(env, 'WORKER_MAX_MEMORY_MB', 2048, 16),
    minFreeDiskBytes: int(env, 'MIN_FREE_DISK_BYTES', 256 * 1024 * 1024, 0),
    // Upper bounds of the adaptive limits: high, because a cloud API takes hundreds of calls at
    // once and a local server that cannot is found out by its 429s/503s or its rising latency.
    embed: provider(env, 'EMBED', { model: 'text-embedding-3-small', maxConcurrency: 64 }),
    llm: provider(env, 'LLM', { model: 'gpt-4o-mini', maxConcurrency: 256 }),
    rerank: provider(env, 'RERANK', { model: 'rerank', maxConcurrency: 64 }),
    redisUrl: optional(env, 'REDIS_URL'),
    databaseUrl: optional(env, 'DATABASE_URL'),
    blobDir: optionalPath(env, 'BLOB_DIR'),
    redisPrefix: str(env, 'REDIS_PREFIX', 'ragd'),
    postgres: {
      poolMax: int(env, 'PG_POOL_MAX', 10, 1),
      connectTimeoutMs: int(env, 'PG_CONNECT_TIMEOUT_MS', 5_000, 100),
      statementTimeoutMs: int(env, 'PG_STATEMENT_TIMEOUT_MS', 60_000, 100),
    },
    adminKey: optional(env, 'ADMIN_KEY'),
    tenantLimits: {
      requestsPerMinute: limit(env, 'TENANT_RPM'),
      // Bounded by default: one tenant's flood may hold at most half the process's query slots,
      // so another tenant always finds one free.
      maxConcurrentQueries: limit(env, 'TENANT_MAX_CONCURRENT_QUERIES') ?? Math.max(1, Math.floor(maxConcurrentQueries / 2)),
      maxStoredBytes: limit(env, 'TENANT_MAX_STORED_BYTES'),
      maxDocuments: limit(env, 'TENANT_MAX_DOCUMENTS'),
      maxEventStreams: limit(env, 'TENANT_MAX_EVENT_STREAMS'),
    },
    jwt: {
      secret: optional(env, 'JWT_SECRET'),
      jwksUrl: optional(env, 'JWT_JWKS_URL'),
      tenantClaim: str(env, 'JWT_TENANT_CLAIM', 'tenant'),
      audience: optional(env, 'JWT_AUDIENCE'),
      issuer: optional(env, 'JWT_ISSUER'),
      jwksCacheMs: int(env, 'JWT_JWKS_CACHE_MS', 600_000, 0),
      jwksCooldownMs: int(env, 'JWT_JWKS_COOLDOWN_MS', 30_000, 0),
      maxTtlSec: int(env, 'JWT_MAX_TTL', 86_400, 1),
    },
    providerAllowPrivate: bool(env, 'PROVIDER_ALLOW_PRIVATE', false),
    secretKey: optional(env, 'SECRET_KEY'),
    resultTtlMs: int(env, 'RESULT_TTL_MS', 60 * 60 * 1000, 1000),
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 15_000, 0),
    tracing: otlpTracing(env),
    admission: {
      maxConcurrentQueries,
      maxQueuedQueries: int(env, 'MAX_QUEUED_QUERIES', 1024, 0),
      queryQueueTimeoutMs: int(env, 'QUERY_QUEUE_TIMEOUT_MS', 10_000, 1),
      maxPoolQueue: int(env, 'MAX_POOL_QUEUE', 1024, 1),
      maxPipelineBacklog: int(env, 'MAX_PIPELINE_BACKLOG', 10_000, 1),
      retryAfterSec: int(env, 'RETRY_AFTER_SEC', 1, 1),
    },
    ocr: ocrConfig(env),
  };
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const v = str(env, name, fallback);
  if (!values.includes(v as T)) throw new Error(`RAGD_${name} must be one of ${values.join(', ')}, got "${v}"`);
  return v as T;
}

function ocrConfig(env: Env): OcrConfig {
  const vision = provider(env, 'OCR', { model: 'gpt-4o-mini', maxConcurrency: 4 });
  const engine = oneOf(env, 'OCR_ENGINE', ['paddle', 'tesseract', 'vision'] as const, vision.baseUrl ? 'vision' : 'paddle');
  if (engine === 'vision' && !vision.baseUrl) throw new Error('RAGD_OCR_ENGINE=vision needs RAGD_OCR_BASE_URL');
  const fallback = oneOf(env, 'OCR_FALLBACK', ['paddle', 'tesseract', 'none'] as const, 'paddle');
  return {
    engine,
    fallback: fallback === 'none' ? null : fallback,
    vision,
    threads: int(env, 'OCR_THREADS', 1, 1),
    dpi: int(env, 'OCR_DPI', 200, 36),
    maxPages: int(env, 'OCR_MAX_PAGES', 500, 1),
    maxPixels: int(env, 'OCR_MAX_PIXELS', 40_000_000, 1),
    pageTimeoutMs: int(env, 'OCR_PAGE_TIMEOUT_MS', 120_000, 100),
  };
}

/** The traces URL: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces (the OTel spec's rule). */
function otlpTracing(env: Env): Config['tracing'] {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const endpoint = traces ? traces : base ? `${base.replace(/\/+$/, '')}/v1/traces` : null;
  return { endpoint, serviceName: env.OTEL_SERVICE_NAME?.trim() || 'ragd' };
}

/** `--data-dir ./x --port=9000` → `{ RAGD_DATA_DIR: './x', RAGD_PORT: '9000' }`; the rest stays positional. */
export function flagsToEnv(argv: string[], switchNames: readonly string[] = []): { env: Env; positional: string[]; switches: Set<string> } {
  const env: Env = {};
  const positional: string[] = [];
  const switches = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [rawName, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (inline === undefined && switchNames.includes(rawName)) {
      switches.add(rawName);
      continue;
    }
    const next = argv[i + 1];
    const value = inline ?? (next !== undefined && !next.startsWith('--') ? (i++, next) : undefined);
    if (value === undefined) switches.add(rawName);
    else env[`RAGD_${rawName.toUpperCase().replace(/-/g, '_')}`] = value;
  }
  return { env, positional, switches };
}
