import type { Logger } from 'pino';
import type { BlobStore } from './blob-store.js';
import type { QueryJobConsumer, QueryJobProducer, QueryRunner } from './query-jobs.js';
import type { EventBus } from './event-bus.js';
import type { JobQueue } from './job-queue.js';
import type { Store } from './store.js';
import type { TenantStore } from './tenants.js';

/**
 * A dependency /readyz checks besides the store (cluster: Redis); `check` throws when it is down,
 * or reports `{ degraded }` when it works with less (no vector search) and readiness must hold.
 */
export interface AdapterCheck {
  name: string;
  check(): Promise<void | { degraded: string }>;
  /** How /readyz words a failure; names no host or secret. */
  failure?: string;
}

/**
 * What a deployment mode supplies. One factory per mode builds it — embedded
 * (src/adapters/embedded/index.ts: SQLite, the data directory, in-process events) and cluster
 * (src/adapters/cluster/index.ts: PostgreSQL, BullMQ and Redis, a directory every node mounts) —
 * and the composition root picks one. Everything else sees these ports only.
 */
export interface Adapters {
  store: Store;
  tenants: TenantStore;
  queue: JobQueue;
  bus: EventBus;
  blobs: BlobStore;
  /**
   * The directory this process writes files to: its free space pauses the pipeline and fails
   * /readyz, and the key that encrypts tenants' provider secrets is kept there when
   * RAGD_SECRET_KEY is not set (so in cluster mode every node reads the same key).
   */
  localDir: string;
  /** Readiness checks beyond the store's ping. */
  checks: AdapterCheck[];
  /**
   * Builds this mode's /retrieve query jobs (the query service exists only after the adapters):
   * embedded, a wait list in this process; cluster, requests kept in PostgreSQL and scheduled by
   * BullMQ, run by whichever process has `runJobs`.
   */
  queryJobs(setup: QueryJobsSetup): QueryJobs;
  /** Closes what the factory opened, in reverse order; every step runs even if one fails. */
  close(): Promise<void>;
}

/** Both sides of the query jobs in one object: an API node only submits, a worker also runs them. */
export interface QueryJobs extends QueryJobProducer, QueryJobConsumer {
  close(deadlineMs: number): Promise<void>;
}

export interface QueryJobsSetup {
  bus: EventBus;
  store: Store;
  query: QueryRunner;
  logger: Logger;
  /** Counts a job against its tenant's concurrent-query limit (429 when full). */
  admit: (tenantId: string) => Promise<() => void>;
  /** Whether this process runs jobs (a worker with --query-jobs, or any embedded server). */
  runJobs: boolean;
  resultTtlMs: number;
  /** Jobs run at once by this process. */
  concurrency: number;
  /** Jobs waiting beyond this are refused with 503 overloaded. */
  maxQueued: number;
}
