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
  concurrency: number;
  requestsPerMinute: number;
  timeoutMs: number;
  maxRetries: number;
  /**
   * Set on a tenant's own provider (never from the environment): its calls go through the egress
   * policy (providers/egress.ts) with this RAGD_PROVIDER_ALLOW_PRIVATE.
   */
  tenantEgress?: { allowPrivate: boolean };
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
  stageConcurrency: { parse: number; chunk: number; embed: number; index: number };
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

function provider(env: Env, prefix: string, defaults: { model: string; concurrency: number }): ProviderConfig {
  return {
    baseUrl: optional(env, `${prefix}_BASE_URL`),
    model: str(env, `${prefix}_MODEL`, defaults.model),
    apiKey: str(env, `${prefix}_API_KEY`, 'none'),
    concurrency: int(env, `${prefix}_CONCURRENCY`, defaults.concurrency, 1),
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
    embed: provider(env, 'EMBED', { model: 'text-embedding-3-small', concurrency: 4 }),
    llm: provider(env, 'LLM', { model: 'gpt-4o-mini', concurrency: 8 }),
    rerank: provider(env, 'RERANK', { model: 'rerank', concurrency: 4 }),
    redisUrl: optional(env, 'REDIS_URL'),
    databaseUrl: optional(env, 'DATABASE_URL'),
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
