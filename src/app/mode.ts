import { StartupCheckError } from '../adapters/embedded/sqlite/preflight.js';
import type { Config } from '../config/config.js';

/** Embedded: one process on SQLite. Cluster: any number of processes on PostgreSQL and Redis. */
export type DeploymentMode = 'embedded' | 'cluster';

/**
 * Both cluster URLs select the cluster adapters, neither the embedded default. One alone is a
 * mistake worth stopping for: half a cluster would run embedded beside its peers, on data none
 * of them can see.
 */
export function deploymentMode(config: Pick<Config, 'databaseUrl' | 'redisUrl' | 'blobDir'>): DeploymentMode {
  const { databaseUrl, redisUrl, blobDir } = config;
  if (!databaseUrl && !redisUrl) return 'embedded';
  if (!databaseUrl) {
    throw new StartupCheckError(
      'RAGD_REDIS_URL is set but RAGD_DATABASE_URL is not: cluster mode needs both (PostgreSQL holds the data, Redis the queues and events); unset RAGD_REDIS_URL to run embedded',
    );
  }
  if (!redisUrl) {
    throw new StartupCheckError(
      'RAGD_DATABASE_URL is set but RAGD_REDIS_URL is not: cluster mode needs both (PostgreSQL holds the data, Redis the queues and events); unset RAGD_DATABASE_URL to run embedded',
    );
  }
  if (!blobDir) {
    throw new StartupCheckError(
      'cluster mode needs RAGD_BLOB_DIR: a directory every ragd node mounts (uploads are stored there and read by whichever worker runs their stages)',
    );
  }
  return 'cluster';
}
