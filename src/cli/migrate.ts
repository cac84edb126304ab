import type { Config } from '../config/config.js';

/**
 * `ragd migrate`: creates or upgrades the cluster's PostgreSQL schema (RAGD_DATABASE_URL) under
 * the migrator's advisory lock, so it is safe beside replicas that start and migrate at the same
 * time. Reports whether pgvector is available. `pg` loads only here, never in embedded mode.
 */
export async function migrateCommand(config: Config): Promise<number> {
  if (!config.databaseUrl) {
    console.error('ragd migrate works on the cluster database: set RAGD_DATABASE_URL (postgres://user@host/db)');
    return 2;
  }
  const { createPool } = await import('../adapters/cluster/postgres/pool.js');
  const { migrate } = await import('../adapters/cluster/postgres/migrator.js');
  const { ensureVectorSupport } = await import('../adapters/cluster/postgres/vectors.js');
  const pool = createPool({
    url: config.databaseUrl,
    max: 1,
    connectTimeoutMs: config.postgres.connectTimeoutMs,
    // DDL on a large table can take long; the lock wait is bounded by the other migrator instead.
    statementTimeoutMs: 0,
    applicationName: 'ragd migrate',
  });
  try {
    const result = await migrate(pool);
    console.log(
      result.applied.length > 0
        ? `schema migrated to version ${result.current} (applied ${result.applied.join(', ')})`
        : `schema is current (version ${result.current})`,
    );
    const vectors = await ensureVectorSupport(pool);
    console.log(vectors.available ? 'pgvector: available' : `pgvector: unavailable: ${vectors.reason}`);
    return 0;
  } finally {
    await pool.end();
  }
}
