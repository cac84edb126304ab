import type { Pool, PoolClient } from 'pg';

/**
 * pgvector, when the server has it. Every managed PostgreSQL and the pgvector/pgvector images do;
 * a stock Debian PostgreSQL does not. Without it the store keeps full text only: `status` says
 * why once, readiness reports it, and vector search throws VectorSearchUnavailableError.
 *
 * Vectors live in one table per dimension (`chunk_vectors_d<dim>`), as in the embedded adapter,
 * each with an HNSW index for cosine distance. Rows carry the KB's number; a query restricts the
 * index scan to its KB with pgvector's iterative scan (0.8+), which keeps reading the graph until
 * enough rows of that KB are found instead of returning fewer than k.
 */

export interface VectorSupport {
  available: boolean;
  /** Why vectors are unavailable (shown once at start-up and in readiness); null when available. */
  reason: string | null;
  /** pgvector 0.8 and later can continue an HNSW scan past rows a filter drops. */
  iterativeScan: boolean;
}

/** pgvector's HNSW indexes `vector` columns of at most this many dimensions; larger ones are scanned. */
const HNSW_MAX_DIM = 2000;

/** Creates the extension when the server offers it and this role may; reports what it found. */
export async function ensureVectorSupport(pool: Pool): Promise<VectorSupport> {
  const offered = await pool.query<{ installed: string | null }>(
    `SELECT installed_version AS installed FROM pg_available_extensions WHERE name = 'vector'`,
  );
  if (offered.rowCount === 0) {
    return {
      available: false,
      reason: 'the PostgreSQL server has no pgvector extension: vector search is off, hybrid search uses full text only',
      iterativeScan: false,
    };
  }
  if (offered.rows[0]!.installed === null) {
    try {
      await pool.query('CREATE EXTENSION IF NOT EXISTS vector');
    } catch (err) {
      return {
        available: false,
        reason: `pgvector is installed on the server but could not be enabled (${(err as Error).message}): run CREATE EXTENSION vector as a superuser`,
        iterativeScan: false,
      };
    }
  }
  const version = (await pool.query<{ v: string }>(`SELECT extversion AS v FROM pg_extension WHERE extname = 'vector'`)).rows[0]!.v;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return { available: true, reason: null, iterativeScan: major > 0 || minor >= 8 };
}

export function vectorTable(dim: number): string {
  if (!Number.isInteger(dim) || dim < 1 || dim > 16000) throw new Error(`invalid vector dimension ${dim}`);
  return `chunk_vectors_d${dim}`;
}

/**
 * Creates the dimension's table and index if missing. Under a transaction-scoped advisory lock,
 * since two processes racing on CREATE TABLE IF NOT EXISTS can still collide in the catalogue.
 */
export async function ensureVectorTable(client: PoolClient, dim: number): Promise<string> {
  const table = vectorTable(dim);
  const exists = await client.query('SELECT to_regclass($1) AS t', [table]);
  if (exists.rows[0].t !== null) return table;
  await client.query('SELECT pg_advisory_xact_lock($1)', [7_240_118_100 + dim]);
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${table} (
       chunk_no bigint PRIMARY KEY,
       kb_no bigint NOT NULL,
       embedding vector(${dim}) NOT NULL
     )`,
  );
  await client.query(`CREATE INDEX IF NOT EXISTS ${table}_by_kb ON ${table} (kb_no)`);
  if (dim <= HNSW_MAX_DIM) {
    await client.query(`CREATE INDEX IF NOT EXISTS ${table}_hnsw ON ${table} USING hnsw (embedding vector_cosine_ops)`);
  }
  return table;
}

/** pgvector's text form of a vector: `[0.1,0.2,…]`. */
export const vectorLiteral = (v: ArrayLike<number>): string => `[${Array.prototype.join.call(v, ',')}]`;
