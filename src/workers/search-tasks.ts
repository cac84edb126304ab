import { openDatabase, type Db } from '../adapters/embedded/sqlite/open.js';
import { hashEmbedOne } from '../embedding/hash-embedder.js';
import { hydrate, inSnapshot, rankLexical, rankVector, searchLexical, searchVector, type LexicalArgs, type VectorArgs } from '../adapters/embedded/sqlite/search-ops.js';
import type { ChunkHit } from '../ports/store.js';
import { fuseRanked } from '../services/query/rrf.js';
import type { LocalSearchRequest } from '../services/query/retrieval.js';
import type { Scope } from '../domain/types.js';

/**
 * Search tasks, run in the search worker pool (search-pool.ts). Each worker thread keeps one
 * read-only connection per database file for its whole life: opening a connection (and loading
 * sqlite-vec into it) costs far more than a query, and a WAL reader never blocks the writer.
 */

const connections = new Map<string, Db>();

function connection(dbPath: string): Db {
  let db = connections.get(dbPath);
  if (!db) {
    db = openDatabase(dbPath, { readonly: true });
    connections.set(dbPath, db);
  }
  return db;
}

export interface LexicalTask {
  dbPath: string;
  args: LexicalArgs;
}

export interface VectorTask {
  dbPath: string;
  args: VectorArgs;
}

export function lexical(task: LexicalTask): ChunkHit[] {
  return searchLexical(connection(task.dbPath), task.args);
}

export function vector(task: VectorTask): ChunkHit[] {
  // Structured clone turns the Float32Array into a Float32Array again; nothing to rebuild.
  return searchVector(connection(task.dbPath), task.args);
}

/** A LocalSearchRequest flattened for the thread boundary, plus the database to open. */
export type LocalSearchTask = Omit<LocalSearchRequest, 'scope'> & Scope & { dbPath: string };

/**
 * A whole local-embedder retrieval in one task (see LocalSearch in services/query/retrieval.ts):
 * only the fused top `depth` hits and the vector (for the caller's cache) are sent back.
 */
export function localSearch(t: LocalSearchTask): { vector: Float32Array; hits: ChunkHit[] } {
  const db = connection(t.dbPath);
  const vector = t.vector ?? hashEmbedOne(t.text, t.dim);
  const scope = { tenantId: t.tenantId, kbId: t.kbId, ...(t.filter ? { filter: t.filter } : {}) };
  const hits = inSnapshot(db, () => {
    const knn = rankVector(db, { ...scope, vector, dim: t.dim, k: t.fetch });
    if (t.lexicalQuery === undefined) return hydrate(db, knn.slice(0, t.depth));
    const bm25 = rankLexical(db, { ...scope, query: t.lexicalQuery, k: t.fetch });
    return hydrate(db, fuseRanked([bm25, knn], (r) => r.rowid, [1, t.vectorWeight]).slice(0, t.depth));
  });
  return { vector, hits };
}
