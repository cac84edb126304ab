import type { BlobStore } from './blob-store.js';
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
  /** Closes what the factory opened, in reverse order; every step runs even if one fails. */
  close(): Promise<void>;
}
