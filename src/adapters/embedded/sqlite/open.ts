import Database from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';

export type Db = Database.Database;

/**
 * Opens the ragd database. WAL lets the event-loop thread read while the writer thread writes;
 * `synchronous=NORMAL` is durable across process crashes in WAL mode (only an OS crash can lose
 * the last transactions), which is the failure model the pipeline's leases are built for.
 */
export function openDatabase(path: string, opts: { readonly?: boolean } = {}): Db {
  const db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  sqliteVec.load(db);
  if (!opts.readonly) db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  // The writer thread is the only writer, so waits are rare; readers never wait in WAL mode.
  db.pragma('busy_timeout = 10000');
  db.pragma('cache_size = -32000');
  db.pragma('temp_store = MEMORY');
  return db;
}
