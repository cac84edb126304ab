import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import Database from 'better-sqlite3';

/**
 * Start-up checks of the embedded store, run before anything opens the database, so that an
 * operator reads which file is wrong and what to do, not a bare SQLITE_NOTADB / SQLITE_CANTOPEN,
 * and a damaged file is never reported ready.
 */
export class StartupCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupCheckError';
  }
}

export function checkDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true });
    accessSync(dataDir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const why =
      code === 'EEXIST' || code === 'ENOTDIR'
        ? 'exists but is not a directory'
        : code === 'EACCES' || code === 'EPERM'
          ? 'is not readable and writable by this user'
          : code === 'EROFS'
            ? 'is on a read-only file system'
            : `cannot be used (${code})`;
    throw new StartupCheckError(
      `data directory ${dataDir} ${why}: fix it (ownership, permissions, mount) or set RAGD_DATA_DIR to a writable directory`,
    );
  }
}

/** The database file, if there is one: readable and writable, and its pages pass `PRAGMA quick_check`. */
export function checkDatabaseFile(dbPath: string): void {
  if (!existsSync(dbPath)) return;
  try {
    accessSync(dbPath, constants.R_OK | constants.W_OK);
  } catch {
    throw new StartupCheckError(`database ${dbPath} is not readable and writable by this user: fix its ownership or permissions`);
  }
  let problem: string;
  try {
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      const rows = db.pragma('quick_check') as { quick_check: string }[];
      problem = rows.map((r) => r.quick_check).join('; ');
    } finally {
      db.close();
    }
  } catch (err) {
    problem = (err as Error).message;
  }
  if (problem === 'ok') return;
  throw new StartupCheckError(
    `database ${dbPath} is damaged (${problem.slice(0, 300)}): stop ragd, restore the file from a backup ` +
      '(or move it aside to start with an empty one; `sqlite3 ragd.db .recover` may save what is readable), then start again',
  );
}
