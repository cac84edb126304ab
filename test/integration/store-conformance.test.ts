/**
 * The Store port's conformance suite against each adapter: embedded SQLite, and PostgreSQL on the
 * local server (a database of its own, dropped afterwards; a server that does not answer fails
 * the run). The PostgreSQL store also runs it on PGlite with pgvector, the engine that has the
 * extension here, so its vector SQL is proven too.
 */
import { PostgresStore } from '../../src/adapters/cluster/postgres/postgres-store.js';
import { PostgresTenantStore } from '../../src/adapters/cluster/postgres/postgres-tenant-store.js';
import { SqliteTenantStore } from '../../src/adapters/embedded/sqlite/sqlite-tenant-store.js';
import { describeStore, CONTRACT_DIM } from '../contract/store.contract.js';
import { describeTenantStore } from '../contract/tenants.contract.js';
import { pgliteWithVector, tempDatabase } from '../support/postgres.js';
import { tempSqliteStore } from '../support/sqlite.js';

const storeOptions = { defaultEmbedder: `hash:${CONTRACT_DIM}`, embedDim: CONTRACT_DIM, maxAttempts: 3 };

describeStore('SQLite (embedded)', async () => {
  const temp = await tempSqliteStore('ragd-store-contract-', CONTRACT_DIM);
  return { store: temp.store, close: () => temp.remove() };
});

describeStore('PostgreSQL (cluster)', async () => {
  const db = await tempDatabase();
  const store = new PostgresStore(db.pool, storeOptions);
  await store.init();
  return { store, close: () => db.drop() };
});

describeStore('PostgreSQL with pgvector (PGlite)', async () => {
  const engine = await pgliteWithVector();
  const store = new PostgresStore(engine.pool, storeOptions);
  await store.init();
  if (!store.vectorSearch.available) throw new Error(`pgvector should be available on PGlite: ${store.vectorSearch.reason}`);
  return { store, close: () => engine.stop() };
});

describeTenantStore('SQLite (embedded)', async () => {
  const temp = await tempSqliteStore('ragd-tenant-contract-', CONTRACT_DIM);
  const tenants = new SqliteTenantStore(temp.store.dbPath, temp.store.writer, { embedder: `hash:${CONTRACT_DIM}`, embedDim: CONTRACT_DIM });
  return {
    tenants,
    store: temp.store,
    close: async () => {
      tenants.close();
      await temp.remove();
    },
  };
});

describeTenantStore('PostgreSQL (cluster)', async () => {
  const db = await tempDatabase();
  const store = new PostgresStore(db.pool, storeOptions);
  await store.init();
  return { tenants: new PostgresTenantStore(db.pool, { embedder: `hash:${CONTRACT_DIM}`, embedDim: CONTRACT_DIM }), store, close: () => db.drop() };
});
