import { readdirSync, readFileSync } from 'node:fs';
import type { Pool, PoolClient } from 'pg';

/**
 * Brings a PostgreSQL database up to the cluster schema: the numbered files in ./migrations,
 * applied in order, each in its own transaction, each recorded in `ragd_migrations`.
 *
 * Every process that starts (`ragd migrate`, `serve`, `worker`) calls this. A session-level
 * advisory lock makes them queue up behind one another, so replicas starting together migrate
 * once and never deadlock on DDL; the lock is released with the session if the process dies.
 * Advisory locks are per database, so test runs in separate databases do not wait on each other.
 */

/** PostgreSQL 14 is the oldest release still supported upstream, and the oldest we test on. */
export const MIN_SERVER_VERSION = 140000;

/** Any fixed 64-bit number; it names ragd's migration lock among the database's advisory locks. */
const MIGRATION_LOCK = 7_240_118_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);

/** The migration files, in order (`0001_init.sql` → version 1). */
export function loadMigrations(dir: URL = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 4)), name: f.slice(5, -4), sql: readFileSync(new URL(f, dir), 'utf8') }));
}

export class ServerTooOldError extends Error {
  constructor(readonly serverVersion: number) {
    super(`PostgreSQL ${Math.floor(serverVersion / 10000)} is too old: ragd needs ${MIN_SERVER_VERSION / 10000} or later`);
  }
}

export interface MigrateResult {
  /** Versions this call applied (empty when the schema was already current). */
  applied: number[];
  current: number;
}

export async function migrate(pool: Pool, migrations: Migration[] = loadMigrations()): Promise<MigrateResult> {
  const client = await pool.connect();
  try {
    const version = Number((await client.query<{ v: string }>('SHOW server_version_num')).rows[0]!.v);
    if (version < MIN_SERVER_VERSION) throw new ServerTooOldError(version);
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      return await applyPending(client, migrations);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}

async function applyPending(client: PoolClient, migrations: Migration[]): Promise<MigrateResult> {
  await client.query(
    `CREATE TABLE IF NOT EXISTS ragd_migrations (
       version integer PRIMARY KEY,
       name text NOT NULL,
       applied_at timestamptz NOT NULL DEFAULT now()
     )`,
  );
  const done = new Set((await client.query<{ version: number }>('SELECT version FROM ragd_migrations')).rows.map((r) => r.version));
  const known = Math.max(0, ...migrations.map((m) => m.version));
  const newest = Math.max(0, ...done);
  // A database migrated by a newer ragd: refuse rather than run old code on a schema it does not know.
  if (newest > known) throw new Error(`the database schema is version ${newest}, newer than this ragd knows (${known}): upgrade ragd`);
  const applied: number[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    await client.query('BEGIN');
    try {
      await client.query(m.sql);
      await client.query('INSERT INTO ragd_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw new Error(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
    }
    applied.push(m.version);
  }
  return { applied, current: Math.max(newest, ...applied) };
}
