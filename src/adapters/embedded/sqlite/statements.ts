import type { Statement } from 'better-sqlite3';
import type { Db } from './open.js';

/**
 * Above this many statements a connection's cache starts over. Most SQL here is fixed text, but
 * statements naming a KB's own full-text table grow with the number of KBs: a bound keeps the
 * memory flat however many there are.
 */
const MAX_STATEMENTS_PER_CONNECTION = 512;

const caches = new WeakMap<Db, Map<string, Statement<unknown[]>>>();

/**
 * `db.prepare(sql)`, compiled once per connection. better-sqlite3 keeps no statement cache, and
 * compiling (for FTS5 and vec0 tables, planning through the extension too) costs more than running
 * the small statements of a search, a pipeline step or a queue lease.
 *
 * A statement's mode is part of it: one SQL text must always be used with or always without
 * `.pluck()`. SQLite recompiles a cached statement by itself after a schema change.
 */
export function prepareCached(db: Db, sql: string): Statement<unknown[]> {
  let cache = caches.get(db);
  if (!cache) caches.set(db, (cache = new Map()));
  let stmt = cache.get(sql);
  if (!stmt) {
    if (cache.size >= MAX_STATEMENTS_PER_CONNECTION) cache.clear();
    stmt = db.prepare(sql);
    cache.set(sql, stmt);
  }
  return stmt;
}
