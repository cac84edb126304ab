import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openDatabase, type Db } from '../../src/adapters/embedded/sqlite/open.js';
import type { SqliteStore } from '../../src/adapters/embedded/sqlite/sqlite-store.js';
import { tempSqliteStore, type TempStore } from '../support/sqlite.js';

const scope = { tenantId: 'default', kbId: 'default' };

/**
 * Store.kbState is memoised in memory (every query reads it first): whatever writes the
 * database — the writer thread or another process on the same file — the next read must see it.
 */
describe('kbState: the KB version and pending count a query reads first', () => {
  let temp: TempStore;
  let store: SqliteStore;
  /** Another connection, as a second process (the CLI) would have. */
  let outsider: Db;

  before(async () => {
    temp = await tempSqliteStore('ragd-kbstate-');
    store = temp.store;
    outsider = openDatabase(store.dbPath);
  });
  after(async () => {
    outsider.close();
    await temp.remove();
  });

  it('is null for an unknown KB, and unchanged state is served from memory', async () => {
    assert.equal(await store.kbState({ tenantId: 'default', kbId: 'nope' }), null);
    const a = await store.kbState(scope);
    const b = await store.kbState(scope);
    assert.equal(a?.kb.version, 0);
    assert.equal(a?.pending, 0);
    assert.equal(b, a, 'no write in between: the same memoised state');
    assert.ok(Object.isFrozen(a) && Object.isFrozen(a.kb), 'shared between requests, so frozen');
  });

  it('sees a document created through the writer thread at once', async () => {
    await store.createDocument({
      scope, id: 'doc_kbstate_xxxxxxxx', taskId: 'task_kbstate_xxxxxxx', name: 'a.txt', type: 'text',
      contentHash: 'kbstate', bytes: 3, blobKey: 'sources/default/default/kbstate', metadata: {},
    });
    assert.equal((await store.kbState(scope))?.pending, 1);
  });

  it('sees a commit by another connection at once (version bump, status change, KB removal)', async () => {
    const before = (await store.kbState(scope))!;
    outsider.prepare("UPDATE kbs SET version = version + 1 WHERE tenant_id = 'default' AND id = 'default'").run();
    const bumped = (await store.kbState(scope))!;
    assert.equal(bumped.kb.version, before.kb.version + 1);

    outsider.prepare("UPDATE documents SET status = 'ready' WHERE id = 'doc_kbstate_xxxxxxxx'").run();
    assert.equal((await store.kbState(scope))?.pending, 0);

    outsider.prepare("INSERT INTO kbs (tenant_id, id, name, embedder, embed_dim, version, created_at) VALUES ('default', 'extra', 'extra', 'hash:8', 8, 0, '2024-01-01T00:00:00.000Z')").run();
    const extra = { tenantId: 'default', kbId: 'extra' };
    assert.equal((await store.kbState(extra))?.kb.id, 'extra');
    outsider.prepare("DELETE FROM kbs WHERE tenant_id = 'default' AND id = 'extra'").run();
    assert.equal(await store.kbState(extra), null, 'a deleted KB is gone at once');
  });
});
