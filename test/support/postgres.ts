/**
 * Real PostgreSQL for the cluster adapters' tests: a database of its own per test run (created on
 * the local server, dropped afterwards), so runs never collide. A server that does not answer
 * FAILS the run: `.ci/run` starts it, and a skipped cluster suite would prove nothing.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPool } from '../../src/adapters/cluster/postgres/pool.js';

/** The server's maintenance connection (trust auth on loopback here and in CI). */
const ADMIN_URL = process.env.RAGD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TempDatabase {
  url: string;
  pool: pg.Pool;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

export async function tempDatabase(poolMax = 4): Promise<TempDatabase> {
  const name = `ragd_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not answering at ${ADMIN_URL} (start it, as .ci/run does): ${(err as Error).message}`);
  }
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const pool = createPool({ url: url.href, max: poolMax, connectTimeoutMs: 5000, statementTimeoutMs: 30_000 });
  return {
    url: url.href,
    pool,
    async drop() {
      await pool.end();
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * PostgreSQL with pgvector, in-process: PGlite (PostgreSQL compiled to WASM) with its pgvector
 * build, served over the wire protocol so the store talks to it through `pg` as to any server.
 * It serves ONE session at a time: use it for the vector SQL only (pool of one), never for
 * locking or concurrency.
 */
export async function pgliteWithVector(): Promise<{ pool: pg.Pool; stop(): Promise<void> }> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { vector } = await import('@electric-sql/pglite-pgvector');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create({ extensions: { vector } });
  const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1' });
  await server.start();
  const pool = createPool({ url: `postgres://postgres@${server.getServerConn()}/postgres`, max: 1, connectTimeoutMs: 10_000, statementTimeoutMs: 60_000 });
  return {
    pool,
    async stop() {
      await pool.end();
      await server.stop();
      await db.close();
    },
  };
}
