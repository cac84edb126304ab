/** A real embedded store on a fresh temporary data directory, for unit tests of the SQLite adapter. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/adapters/embedded/sqlite/sqlite-store.js';

export interface TempStore {
  store: SqliteStore;
  dir: string;
  /** Closes the store and removes its directory. */
  remove(): Promise<void>;
}

export async function tempSqliteStore(prefix: string, dim = 8): Promise<TempStore> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const store = new SqliteStore({ dataDir: dir, defaultEmbedder: `hash:${dim}`, embedDim: dim, maxAttempts: 3 });
  await store.init();
  return {
    store,
    dir,
    async remove() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
