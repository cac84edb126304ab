import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from '../../src/adapters/embedded/sqlite/open.js';
import { ensureKbFts } from '../../src/adapters/embedded/sqlite/kb-fts.js';
import { migrate } from '../../src/adapters/embedded/sqlite/schema.js';
import { searchLexical } from '../../src/adapters/embedded/sqlite/search-ops.js';
import { SqliteStore } from '../../src/adapters/embedded/sqlite/sqlite-store.js';
import type { Scope } from '../../src/domain/types.js';
import { tempSqliteStore, type TempStore } from '../support/sqlite.js';

const DIM = 4;

describe('a full-text table per KB (real SQLite)', () => {
  let temp: TempStore;
  let store: SqliteStore;
  let dir: string;
  let n = 0;

  before(async () => {
    temp = await tempSqliteStore('ragd-kbfts-', DIM);
    ({ store, dir } = temp);
  });
  after(() => temp.remove());

  /** Uploads and indexes one document of the given chunk texts, as the pipeline's last stage does. */
  async function indexDocument(scope: Scope, texts: string[]): Promise<string> {
    const hash = `h${n++}`;
    const { document } = await store.createDocument({
      scope, id: `doc_${hash}_xxxxxxxx`, taskId: `task_${hash}_xxxxxxx`, name: `${hash}.txt`, type: 'text',
      contentHash: hash, bytes: 3, blobKey: `sources/${scope.tenantId}/${scope.kbId}/${hash}`, metadata: {},
    });
    const chunksPath = join(dir, `${hash}.json`);
    const vectorsPath = join(dir, `${hash}.f32`);
    writeFileSync(chunksPath, JSON.stringify(texts.map((text, ordinal) => ({ ordinal, text, tokenCount: 5, headingPath: ['H'], page: null }))));
    writeFileSync(vectorsPath, Buffer.from(new Float32Array(texts.length * DIM).fill(0.5).buffer));
    assert.ok(await store.commitIndex({ scope, documentId: document.id, taskId: document.task_id, chunksPath, vectorsPath, embedDim: DIM }));
    return document.id;
  }

  it("keeps BM25's statistics inside the KB: another tenant's uploads neither show up nor move the scores", async () => {
    const a = { tenantId: 'tenant-a', kbId: 'kb' };
    const b = { tenantId: 'tenant-b', kbId: 'kb' };
    for (const s of [a, b]) await store.createKb(s.tenantId, { id: s.kbId, name: s.kbId, embedder: `hash:${DIM}`, embedDim: DIM });
    await indexDocument(b, ['Mitochondria make energy for the cell.', 'Ribosomes build proteins.']);
    const before = await store.searchLexical(b, 'mitochondria energy', 5);
    assert.equal(before.length, 1);

    // Tenant A floods its KB with the same words: under one shared table their IDF would drop.
    await indexDocument(a, Array.from({ length: 50 }, (_, i) => `Mitochondria energy note ${i}.`));
    const afterFlood = await store.searchLexical(b, 'mitochondria energy', 5);
    assert.deepEqual(afterFlood.map((h) => h.chunkId), before.map((h) => h.chunkId), "A's chunks never appear in B's results");
    assert.equal(afterFlood[0]!.score, before[0]!.score, "B's score is unchanged by A's text");
    assert.equal((await store.searchLexical(a, 'mitochondria', 100)).length, 50);
  });

  it('drops the KB\'s table with the KB, and a new KB starts empty', async () => {
    const scope = { tenantId: 'tenant-c', kbId: 'gone' };
    await store.createKb(scope.tenantId, { id: scope.kbId, name: 'gone', embedder: `hash:${DIM}`, embedDim: DIM });
    await indexDocument(scope, ['Photosynthesis turns light into sugar.']);
    const db = openDatabase(join(dir, 'ragd.db'), { readonly: true });
    try {
      const table = `kb_fts_${Number(db.prepare(`SELECT fts_no FROM kbs WHERE tenant_id = 'tenant-c'`).pluck().get())}`;
      const exists = () => db.prepare('SELECT count(*) FROM sqlite_master WHERE name = ?').pluck().get(table);
      assert.equal(exists(), 1);
      assert.ok(await store.deleteKb(scope));
      assert.equal(exists(), 0, 'the table went with the KB');
    } finally {
      db.close();
    }
    await store.createKb(scope.tenantId, { id: scope.kbId, name: 'again', embedder: `hash:${DIM}`, embedDim: DIM });
    assert.deepEqual(await store.searchLexical(scope, 'photosynthesis', 5), [], 'nothing of the old KB is findable');
  });

  it('narrows by metadata and document id inside the KB', async () => {
    const scope = { tenantId: 'tenant-d', kbId: 'kb' };
    await store.createKb(scope.tenantId, { id: scope.kbId, name: 'kb', embedder: `hash:${DIM}`, embedDim: DIM });
    const first = await indexDocument(scope, ['Glaciers carve valleys.']);
    await indexDocument(scope, ['Glaciers store fresh water.']);
    const only = await store.searchLexical(scope, 'glaciers', 5, { documentIds: [first] });
    assert.deepEqual(only.map((h) => h.documentId), [first]);
  });
});

describe('migration 5 moves the shared full-text table into one table per KB', () => {
  it('keeps every chunk findable in its own KB, with title and heading', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ragd-kbfts-mig-'));
    const db = openDatabase(join(dir, 'ragd.db'));
    try {
      migrate(db, 4);
      const now = new Date().toISOString();
      db.prepare(`INSERT INTO tenants (id, name, created_at) VALUES ('t', 't', ?)`).run(now);
      for (const kb of ['one', 'two']) {
        db.prepare(`INSERT INTO kbs (tenant_id, id, name, embedder, embed_dim, created_at) VALUES ('t', ?, ?, 'hash:4', 4, ?)`).run(kb, kb, now);
        db.prepare(
          `INSERT INTO documents (id, tenant_id, kb_id, name, type, content_hash, bytes, blob_key, status, task_id, created_at, updated_at)
           VALUES (?, 't', ?, ?, 'text', ?, 1, 'b', 'ready', 'task', ?, ?)`,
        ).run(`doc-${kb}`, kb, `Report ${kb}`, kb, now, now);
        const rowid = db
          .prepare(
            `INSERT INTO chunks (id, tenant_id, kb_id, document_id, ordinal, text, heading_path, token_count)
             VALUES (?, 't', ?, ?, 0, ?, '["Findings","Volcanoes"]', 3)`,
          )
          .run(`doc-${kb}-0`, kb, `doc-${kb}`, `Basalt flows in ${kb}.`).lastInsertRowid;
        db.prepare('INSERT INTO chunks_fts (rowid, title, heading, body) VALUES (?, ?, ?, ?)').run(rowid, `Report ${kb}`, 'Findings > Volcanoes', `Basalt flows in ${kb}.`);
      }
      migrate(db);
      assert.equal(db.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'chunks_fts'`).pluck().get(), 0, 'the shared table is gone');
      for (const kb of ['one', 'two']) {
        const scope = { tenantId: 't', kbId: kb };
        assert.deepEqual(searchLexical(db, { ...scope, query: 'basalt', k: 5 }).map((h) => h.documentId), [`doc-${kb}`]);
        assert.equal(searchLexical(db, { ...scope, query: 'volcanoes', k: 5 }).length, 1, 'the heading is indexed');
        assert.equal(searchLexical(db, { ...scope, query: 'report', k: 5 }).length, 1, 'the title is indexed');
      }
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('word segmentation of full text, and the start-up rebuild of KBs indexed before it', () => {
  it('finds Chinese words inside unspaced sentences after the rebuild, with progress logged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ragd-kbfts-seg-'));
    const db = openDatabase(join(dir, 'ragd.db'));
    const CHUNKS = 450; // more than one rebuild batch
    try {
      migrate(db, 5); // before full-text segmentation
      const now = new Date().toISOString();
      db.prepare(`INSERT INTO tenants (id, name, created_at) VALUES ('t', 't', ?)`).run(now);
      db.prepare(`INSERT INTO kbs (tenant_id, id, name, embedder, embed_dim, created_at) VALUES ('t', 'hr', 'hr', 'hash:4', 4, ?)`).run(now);
      const table = ensureKbFts(db, 't', 'hr');
      db.prepare(
        `INSERT INTO documents (id, tenant_id, kb_id, name, type, content_hash, bytes, blob_key, status, task_id, created_at, updated_at)
         VALUES ('doc-1', 't', 'hr', '员工手册.md', 'markdown', 'h', 1, 'b', 'ready', 'task', ?, ?)`,
      ).run(now, now);
      for (let i = 0; i < CHUNKS; i++) {
        const text = i === 123 ? '每年享有十五天带薪年假。' : `第${i}条：员工应当遵守公司的考勤制度。`;
        const rowid = db
          .prepare(`INSERT INTO chunks (id, tenant_id, kb_id, document_id, ordinal, text, heading_path, token_count) VALUES (?, 't', 'hr', 'doc-1', ?, ?, '[]', 9)`)
          .run(`doc-1-${i}`, i, text).lastInsertRowid;
        // What the server wrote before segmentation: the raw text, one "word" per sentence.
        db.prepare(`INSERT INTO ${table} (rowid, title, heading, body) VALUES (?, ?, '', ?)`).run(rowid, '员工手册.md', text);
      }
      assert.equal(searchLexical(db, { tenantId: 't', kbId: 'hr', query: '年假有几天', k: 5 }).length, 0, 'unsegmented rows never match a Chinese word');
    } finally {
      db.close();
    }

    const logs: { msg: string; fields: object }[] = [];
    const log = (obj: object, msg: string) => void logs.push({ msg, fields: obj });
    const store = new SqliteStore({ dataDir: dir, defaultEmbedder: 'hash:4', embedDim: 4, maxAttempts: 3, logger: { info: log, warn: log } });
    try {
      await store.init();
      await store.fullTextRebuilt;
      const scope = { tenantId: 't', kbId: 'hr' };
      const hits = await store.searchLexical(scope, '年假有几天？', 5);
      assert.equal(hits[0]?.text, '每年享有十五天带薪年假。');
      assert.equal((await store.searchLexical(scope, '考勤', CHUNKS + 10)).length, CHUNKS - 1, 'every rebuilt row is findable');
      assert.equal((await store.searchLexical(scope, '员工手册', 1)).length, 1, 'the title is segmented too');
      assert.ok(logs.some((l) => l.msg === 'full-text index rebuilt' && (l.fields as { chunks?: number }).chunks === CHUNKS), JSON.stringify(logs));
    } finally {
      await store.close();
    }
    // A restart has nothing left to rebuild.
    logs.length = 0;
    const again = new SqliteStore({ dataDir: dir, defaultEmbedder: 'hash:4', embedDim: 4, maxAttempts: 3, logger: { info: log, warn: log } });
    try {
      await again.init();
      await again.fullTextRebuilt;
      assert.deepEqual(logs, []);
    } finally {
      await again.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('indexes new Chinese, Japanese and mixed documents segmented, English unchanged', async () => {
    const temp = await tempSqliteStore('ragd-kbfts-seg2-', DIM);
    try {
      const scope = { tenantId: 'default', kbId: 'default' };
      const { store: s, dir: d } = temp;
      const put = async (name: string, text: string) => {
        const { document } = await s.createDocument({
          scope, id: `doc_${name}_xxxxxxxxxx`, taskId: `task_${name}_xxxxxxxxx`, name, type: 'text',
          contentHash: name, bytes: 3, blobKey: `sources/x/${name}`, metadata: {},
        });
        writeFileSync(join(d, `${name}.json`), JSON.stringify([{ ordinal: 0, text, tokenCount: 5, headingPath: [], page: null }]));
        writeFileSync(join(d, `${name}.f32`), Buffer.from(new Float32Array(DIM).fill(0.5).buffer));
        await s.commitIndex({ scope, documentId: document.id, taskId: document.task_id, chunksPath: join(d, `${name}.json`), vectorsPath: join(d, `${name}.f32`), embedDim: DIM });
        return document.id;
      };
      const zh = await put('zh', '每年享有十五天带薪年假。');
      const ja = await put('ja', '社員は毎年十五日の有給休暇を取得できます。');
      const mixed = await put('mixed', 'iPhone 15 的电池续航时间为20小时，支持ＵＳＢ－Ｃ快充。');
      const en = await put('en', 'Employees are entitled to fifteen days of paid annual leave.');
      const top = async (q: string) => (await s.searchLexical(scope, q, 3))[0]?.documentId;
      assert.equal(await top('年假有几天'), zh);
      assert.equal(await top('有給休暇は何日ですか'), ja);
      assert.equal(await top('iphone电池能用多久'), mixed);
      assert.equal(await top('USB-C 快充'), mixed, 'full-width forms meet half-width ones (NFKC)');
      assert.equal(await top('how many days of annual leave'), en);
      assert.equal(await top('entitle'), en, 'English keeps its stemming');
    } finally {
      await temp.remove();
    }
  });
});
