import pg from 'pg';

export interface PostgresPoolOptions {
  url: string;
  /** Most connections this process opens (RAGD_PG_POOL_MAX). */
  max: number;
  /** Longest wait for a connection, new or from the pool, before the call fails (RAGD_PG_CONNECT_TIMEOUT_MS). */
  connectTimeoutMs: number;
  /** Longest any one statement may run before the server cancels it (RAGD_PG_STATEMENT_TIMEOUT_MS). */
  statementTimeoutMs: number;
  /** An idle connection is closed after this long. */
  idleTimeoutMs?: number;
  /** Shown in pg_stat_activity, so an operator can tell ragd's roles apart. */
  applicationName?: string;
}

const INT8 = 20;
const JSONB = 3802;
const TIMESTAMPTZ = 1184;

const parseTimestamp = pg.types.getTypeParser(TIMESTAMPTZ, 'text') as (v: string) => Date;

/**
 * Rows come back shaped as SQLite's, so both adapters share one mapping (rows.ts): bigint columns
 * (counts, sizes, sequence numbers; none passes 2^53) as numbers, timestamps as ISO-8601 text,
 * jsonb as its JSON text.
 */
const TEXT_PARSERS: Record<number, (v: string) => unknown> = {
  [INT8]: Number,
  [JSONB]: (v) => v,
  [TIMESTAMPTZ]: (v) => parseTimestamp(v).toISOString(),
};
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    (format !== 'binary' && TEXT_PARSERS[oid]) || pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export function createPool(o: PostgresPoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: o.url,
    max: o.max,
    connectionTimeoutMillis: o.connectTimeoutMs,
    idleTimeoutMillis: o.idleTimeoutMs ?? 30_000,
    statement_timeout: o.statementTimeoutMs,
    application_name: o.applicationName ?? 'ragd',
    types,
  });
  // An idle connection the server drops (restart, failover) must not crash the process: the pool
  // discards it and the next query opens a new one.
  pool.on('error', () => {});
  // Nor may a checked-out one dropped between two statements (a transaction or an advisory lock
  // held while awaiting Redis): pg-pool listens only to idle clients, and an 'error' event with no
  // listener kills the process (a worker died so when PostgreSQL restarted, cluster-pipeline test).
  // The holder's next query fails instead, and release() discards the broken client.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/**
 * Runs `fn` in one transaction on one connection: COMMIT when it returns, ROLLBACK when it throws.
 * With `signal`, nothing runs once it has fired, also when it fired while the call waited for a
 * connection (an abandoned query must not take a busy pool's turn).
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>, signal?: AbortSignal): Promise<T> {
  signal?.throwIfAborted();
  const client = await pool.connect();
  try {
    signal?.throwIfAborted();
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** One statement, unless `signal` fired first (also while the call waited for a connection). */
export async function queryUnlessAborted<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  signal: AbortSignal | undefined,
  sql: string,
  params: unknown[],
): Promise<pg.QueryResult<R>> {
  signal?.throwIfAborted();
  const client = await pool.connect();
  try {
    signal?.throwIfAborted();
    return await client.query<R>(sql, params);
  } finally {
    client.release();
  }
}
