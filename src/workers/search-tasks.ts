import { openDatabase, type Db } from '../adapters/embedded/sqlite/open.js';
import { searchLexical, searchVector, type LexicalArgs, type VectorArgs } from '../adapters/embedded/sqlite/search-ops.js';
import type { ChunkHit } from '../ports/store.js';

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

/**
 * Not a task: piscina loads a worker's default handler first, and under `node --import tsx` on
 * Node 20 only the require-based load can read a .ts module, which needs a default export to
 * count as loaded (see ingest-tasks.ts). Harmless for the compiled build.
 */
export default function defaultTask(): never {
  throw new Error('search-tasks has no default task: call pool.run(input, { name })');
}
