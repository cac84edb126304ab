/**
 * The Store port's conformance suite: every adapter (SQLite embedded, PostgreSQL cluster) must
 * pass it unchanged. Runners: test/integration/store-conformance.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { STAGES, type ChunkDraft, type Scope } from '../../src/domain/types.js';
import { InvalidCursorError, MAX_LIST_PAGE_BYTES, VectorSearchUnavailableError, type Store } from '../../src/ports/store.js';

export const CONTRACT_DIM = 8;

export interface StoreUnderTest {
  store: Store;
  /** Releases everything the adapter opened (and its database or directory). */
  close(): Promise<void>;
}

/** `make` returns an initialised store whose `default` KB has CONTRACT_DIM-dimensional vectors. */
export function describeStore(name: string, make: () => Promise<StoreUnderTest>): void {
  describe(`Store conformance: ${name}`, () => {
    let sut: StoreUnderTest;
    let store: Store;
    let dir: string;
    const scope: Scope = { tenantId: 'default', kbId: 'default' };
    let n = 0;

    before(async () => {
      sut = await make();
      store = sut.store;
      dir = await mkdtemp(join(tmpdir(), 'ragd-contract-'));
    });
    after(async () => {
      await sut.close();
      await rm(dir, { recursive: true, force: true });
    });

    async function newDoc(s: Scope = scope, hash = `h${n++}`, metadata: Record<string, unknown> = {}) {
      return store.createDocument({
        scope: s, id: `doc_${hash}`, taskId: `task_${hash}`, name: `${hash}.txt`, type: 'text',
        contentHash: hash, bytes: 10, blobKey: `sources/${s.tenantId}/${s.kbId}/${hash}`, metadata,
      });
    }

    /** Indexes `texts` as the document's chunks; vector i points along axis i % dim. */
    async function index(s: Scope, doc: { id: string; task_id: string }, texts: string[], extra: { fence?: number; ocrConfidence?: (number | undefined)[] } = {}) {
      const { ocrConfidence, ...commit } = extra;
      const drafts: ChunkDraft[] = texts.map((text, ordinal) => {
        const draft: ChunkDraft = { ordinal, text, tokenCount: text.length, headingPath: ['Intro'], page: null };
        const confidence = ocrConfidence?.[ordinal];
        return confidence === undefined ? draft : { ...draft, ocrConfidence: confidence };
      });
      const chunksPath = join(dir, `${doc.id}-${n++}.json`);
      const vectorsPath = `${chunksPath}.f32`;
      const vectors = new Float32Array(texts.length * CONTRACT_DIM);
      texts.forEach((_, i) => (vectors[i * CONTRACT_DIM + (i % CONTRACT_DIM)] = 1));
      await writeFile(chunksPath, drafts.map((d) => `${JSON.stringify(d)}\n`).join(''));
      await writeFile(vectorsPath, Buffer.from(vectors.buffer));
      return store.commitIndex({ scope: s, documentId: doc.id, taskId: doc.task_id, chunksPath, vectorsPath, embedDim: CONTRACT_DIM, ...commit });
    }

    it('starts with the default tenant and KB; KB names are unique per tenant', async () => {
      const kb = await store.getKb(scope);
      assert.equal(kb?.embedDim, CONTRACT_DIM);
      const made = await store.createKb('default', { id: 'second', name: 'Second', embedder: 'hash:8', embedDim: CONTRACT_DIM });
      assert.equal(made.name, 'Second');
      assert.deepEqual((await store.listKbs('default')).map((k) => k.id), ['default', 'second']);
      await assert.rejects(store.createKb('default', { id: 'second', name: 'x', embedder: 'hash:8', embedDim: CONTRACT_DIM }), { code: 'kb_exists' });
      assert.equal((await store.getKb({ tenantId: 'default', kbId: 'second' }))?.name, 'Second', 'an existing KB is left as it was');
      assert.equal(await store.getKb({ tenantId: 'nobody', kbId: 'default' }), null);
    });

    it('creates a document with its queued task and deduplicates by content, also when uploads race', async () => {
      const [a, b, c] = await Promise.all([newDoc(scope, 'same'), newDoc(scope, 'same'), newDoc(scope, 'same')]);
      assert.equal([a, b, c].filter((r) => !r.duplicate).length, 1);
      assert.equal(new Set([a, b, c].map((r) => r.document.id)).size, 1);
      const task = await store.getTask('default', a.document.task_id);
      assert.equal(task?.status, 'queued');
      assert.equal(task?.progress.total, STAGES.length, 'one step per pipeline stage');
      assert.equal((await store.findDocumentByContent(scope, 'same'))?.id, a.document.id);
      assert.equal(await store.getTask('other-tenant', a.document.task_id), null, 'tasks are tenant-scoped');
    });

    it('refuses an upload past the quota with the catalogue error, counting usage', async () => {
      const before = await store.tenantUsage('default');
      await assert.rejects(
        store.createDocument({
          scope, id: 'doc_quota', taskId: 'task_quota', name: 'q.txt', type: 'text', contentHash: 'quota', bytes: 10,
          blobKey: 'k', metadata: {}, quota: { maxDocuments: before.documents, maxStoredBytes: null },
        }),
        { status: 429, code: 'document_quota_exceeded' },
      );
      await newDoc();
      const afterUsage = await store.tenantUsage('default');
      assert.deepEqual(afterUsage, { documents: before.documents + 1, bytes: before.bytes + 10 + '{}'.length }, 'the file and its metadata');
    });

    it('counts a document\'s metadata (its JSON\'s UTF-8 bytes) in the tenant\'s stored bytes and quota', async () => {
      const s = { tenantId: 'meta', kbId: 'default' };
      await store.createKb('meta', { id: 'default', name: 'default', embedder: 'hash:8', embedDim: CONTRACT_DIM });
      const metadata = { 作者: '张三', tags: ['a', 'b'] };
      const json = Buffer.byteLength(JSON.stringify(metadata), 'utf8');
      const { document } = await newDoc(s, undefined, metadata);
      assert.deepEqual(await store.tenantUsage('meta'), { documents: 1, bytes: 10 + json });
      // 10 file bytes fit under the cap; with the metadata they do not.
      await assert.rejects(
        store.createDocument({
          scope: s, id: 'doc_meta_big', taskId: 'task_meta_big', name: 'm.txt', type: 'text', contentHash: 'meta-big', bytes: 10,
          blobKey: 'k', metadata: { note: '大'.repeat(100) }, quota: { maxDocuments: null, maxStoredBytes: 10 + json + 10 + 200 },
        }),
        { status: 413 },
      );
      await store.deleteDocument(s, document.id);
      assert.deepEqual(await store.tenantUsage('meta'), { documents: 0, bytes: 0 }, 'a delete gives it all back');
      await store.deleteKb(s);
    });

    it('lists documents in pages and by status', async () => {
      const s = { tenantId: 'default', kbId: 'second' };
      for (let i = 0; i < 5; i++) await newDoc(s);
      const first = await store.listDocuments(s, { limit: 2 });
      assert.equal(first.documents.length, 2);
      const second = await store.listDocuments(s, { limit: 10, cursor: first.nextCursor! });
      assert.equal(second.documents.length, 3);
      assert.equal(second.nextCursor, null);
      assert.equal(new Set([...first.documents, ...second.documents].map((d) => d.id)).size, 5);
      assert.equal((await store.listDocuments(s, { limit: 10, status: 'ready' })).documents.length, 0);
      assert.equal(await store.countPending(s), 5);
    });

    it('refuses a cursor it never handed out', async () => {
      const s = { tenantId: 'default', kbId: 'second' };
      const { nextCursor } = await store.listDocuments(s, { limit: 1 });
      assert.ok(nextCursor);
      for (const bad of ['!!!', 'not-a-cursor', Buffer.from('-1').toString('base64url'), `${nextCursor}=`, '游标']) {
        await assert.rejects(store.listDocuments(s, { limit: 10, cursor: bad }), InvalidCursorError, bad);
      }
    });

    it('ends a page of documents before their metadata passes MAX_LIST_PAGE_BYTES, with at least one', async () => {
      const s = { tenantId: 'default', kbId: 'pages' };
      await store.createKb('default', { id: 'pages', name: 'pages', embedder: 'hash:8', embedDim: CONTRACT_DIM });
      const third = Math.floor(MAX_LIST_PAGE_BYTES * 0.4);
      const a = await newDoc(s, undefined, { blob: 'a'.repeat(third) });
      const b = await newDoc(s, undefined, { blob: 'b'.repeat(third) });
      const c = await newDoc(s, undefined, { blob: 'c'.repeat(MAX_LIST_PAGE_BYTES + 10) });
      const d = await newDoc(s, undefined, { note: '小' });
      const pages: string[][] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listDocuments(s, { limit: 100, ...(cursor ? { cursor } : {}) });
        pages.push(page.documents.map((x) => x.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor && pages.length < 10);
      assert.deepEqual(pages, [[a.document.id, b.document.id], [c.document.id], [d.document.id]]);
      assert.equal((await store.listDocuments(s, { limit: 1 })).documents[0]?.metadata.blob, 'a'.repeat(third));
      await store.deleteKb(s);
    });

    it('applies a transition to the document and its task together', async () => {
      const { document } = await newDoc();
      const task = await store.transition({
        scope, documentId: document.id, taskId: document.task_id, status: 'chunking', stage: 'chunk', taskStatus: 'running', progress: { done: 1, total: 4 },
      });
      assert.equal(task?.stage, 'chunk');
      assert.equal(task?.status, 'running');
      const doc = await store.getDocument(scope, document.id);
      assert.equal(doc?.status, 'chunking');
      assert.deepEqual(doc?.progress, { done: 1, total: 4 });
      const none = await store.transition({
        scope, documentId: 'doc_missing', taskId: document.task_id, status: 'ready', stage: null, taskStatus: 'succeeded', progress: { done: 4, total: 4 },
      });
      assert.equal(none, null);
    });

    it('commits an index once: ready, version bumped, searchable, and a rerun leaves one copy', async () => {
      const s = { tenantId: 'default', kbId: 'idx' };
      await store.createKb('default', { id: 'idx', name: 'idx', embedder: 'hash:8', embedDim: CONTRACT_DIM });
      const { document } = await newDoc(s);
      const v0 = (await store.getKb(s))!.version;
      const texts = ['The mitochondria produce energy for the cell.', 'Photosynthesis runs in chloroplasts of plant cells.'];
      const first = await index(s, document, texts);
      assert.equal(first?.chunks, 2);
      assert.equal(first?.task.status, 'succeeded');
      const again = await index(s, document, texts);
      assert.equal(again?.chunks, 2);
      const doc = await store.getDocument(s, document.id);
      assert.equal(doc?.status, 'ready');
      assert.equal(doc?.chunks, 2);
      assert.ok((await store.getKb(s))!.version > v0);
      const hits = await store.searchLexical(s, 'mitochondria energy', 10);
      assert.equal(hits.length, 1, 'one copy after two commits');
      assert.equal(hits[0]!.documentId, document.id);
      assert.deepEqual(hits[0]!.headingPath, ['Intro']);
      const state = await store.kbState(s);
      assert.equal(state?.pending, 0);
      assert.equal(state?.kb.version, (await store.getKb(s))!.version);
    });

    it('reads the chunks of a document in order, in pages, and one chunk by id within its tenant', async () => {
      const s = { tenantId: 'default', kbId: 'idx' };
      const [hit] = await store.searchLexical(s, 'photosynthesis', 1);
      const all = await store.documentChunks(s, hit!.documentId, { offset: 0, limit: 10 });
      assert.deepEqual(all.map((c) => c.ordinal), [0, 1]);
      assert.deepEqual(all[1], {
        chunkId: hit!.chunkId, kbId: 'idx', documentId: hit!.documentId, documentName: hit!.documentName, ordinal: 1,
        text: 'Photosynthesis runs in chloroplasts of plant cells.', page: null,
      });
      assert.deepEqual((await store.documentChunks(s, hit!.documentId, { offset: 1, limit: 1 })).map((c) => c.ordinal), [1]);
      assert.deepEqual(await store.documentChunks({ tenantId: 'tenant-b', kbId: 'idx' }, hit!.documentId, { offset: 0, limit: 10 }), []);
      assert.deepEqual(await store.getChunk('default', hit!.chunkId), all[1]);
      assert.equal(await store.getChunk('tenant-b', hit!.chunkId), null, 'never across tenants');
    });

    it('pages a document\'s chunks for its inspector, and counts a KB\'s documents and chunks', async () => {
      const s = { tenantId: 'default', kbId: 'idx' };
      const [hit] = await store.searchLexical(s, 'photosynthesis', 1);
      const all = await store.listChunks(s, hit!.documentId, { limit: 10, after: -1 });
      assert.deepEqual(all.map((c) => c.ordinal), [0, 1]);
      assert.deepEqual(all[1], {
        id: hit!.chunkId, ordinal: 1, text: 'Photosynthesis runs in chloroplasts of plant cells.', headingPath: ['Intro'], page: null,
        tokenCount: 'Photosynthesis runs in chloroplasts of plant cells.'.length,
      });
      assert.deepEqual((await store.listChunks(s, hit!.documentId, { limit: 1, after: -1 })).map((c) => c.ordinal), [0]);
      assert.deepEqual((await store.listChunks(s, hit!.documentId, { limit: 10, after: 0 })).map((c) => c.ordinal), [1]);
      assert.deepEqual(await store.listChunks(s, hit!.documentId, { limit: 10, after: 1 }), []);
      assert.deepEqual(await store.listChunks({ tenantId: 'tenant-b', kbId: 'idx' }, hit!.documentId, { limit: 10, after: -1 }), [], 'never across tenants');

      const { document } = await newDoc(s);
      await store.transition({
        scope: s, documentId: document.id, taskId: document.task_id, status: 'failed', stage: null, taskStatus: 'failed', progress: { done: 1, total: 5 }, error: 'boom',
      });
      const counts = await store.kbCounts(s);
      assert.equal(counts.chunks, 2, 'the chunks of its searchable documents');
      assert.deepEqual(counts.documents, { queued: 0, parsing: 0, recognizing: 0, chunking: 0, embedding: 0, indexing: 0, ready: 1, failed: 1 });
      const none = await store.kbCounts({ tenantId: 'tenant-b', kbId: 'idx' });
      assert.equal(none.chunks, 0);
      assert.ok(Object.values(none.documents).every((n) => n === 0));
      await store.deleteDocument(s, document.id);
    });

    it('ranks by BM25: rare terms outweigh common ones, stems match, stopwords alone still search', async () => {
      const s = { tenantId: 'default', kbId: 'bm25' };
      await store.createKb('default', { id: 'bm25', name: 'bm25', embedder: 'hash:8', embedDim: CONTRACT_DIM });
      const { document } = await newDoc(s);
      await index(s, document, [
        'protein protein protein folding in cells',
        'protein synthesis and ribosomes',
        'protein structure',
        'zebrafish regeneration of the heart',
        'protein kinase signalling',
      ]);
      const hits = await store.searchLexical(s, 'protein zebrafish', 5);
      assert.equal(hits[0]!.text, 'zebrafish regeneration of the heart', 'the rare term ranks its chunk first');
      assert.ok(hits[0]!.score > hits[1]!.score);
      const stemmed = await store.searchLexical(s, 'regenerating hearts', 5);
      assert.equal(stemmed[0]?.text, 'zebrafish regeneration of the heart', 'porter stems match across forms');
      assert.equal((await store.searchLexical(s, 'of the', 5)).length, 1, 'a stopword-only question still searches');
      assert.deepEqual(await store.searchLexical(s, '!!! ???', 5), []);
      assert.deepEqual(await store.searchLexical(s, 'protein', 5, { documentIds: ['doc_other'] }), []);
    });

    it('searches Chinese text and filters by metadata', async () => {
      const s = { tenantId: 'default', kbId: 'zh' };
      await store.createKb('default', { id: 'zh', name: 'zh', embedder: 'hash:8', embedDim: CONTRACT_DIM });
      const a = await newDoc(s, undefined, { lang: 'zh' });
      const b = await newDoc(s, undefined, { lang: 'en' });
      await index(s, a.document, ['向量 数据库 支持 混合 检索', '全文 检索 使用 倒排 索引']);
      await index(s, b.document, ['vector database with hybrid retrieval']);
      const zh = await store.searchLexical(s, '倒排 索引', 5);
      assert.equal(zh[0]?.text, '全文 检索 使用 倒排 索引');
      const filtered = await store.searchLexical(s, '检索 retrieval', 5, { metadata: { lang: 'en' } });
      assert.deepEqual(filtered.map((h) => h.documentId), [b.document.id]);
    });

    it('runs no search for a query already abandoned', async () => {
      const s = { tenantId: 'default', kbId: 'zh' };
      const abandoned = AbortSignal.abort();
      await assert.rejects(store.searchLexical(s, '倒排 索引', 5, undefined, abandoned), { name: 'AbortError' });
      const q = new Float32Array(CONTRACT_DIM);
      q[0] = 1;
      await assert.rejects(store.searchVector(s, q, 5, undefined, abandoned), (err: Error) => err.name === 'AbortError' || err instanceof VectorSearchUnavailableError);
      const live = new AbortController().signal;
      assert.equal((await store.searchLexical(s, '倒排 索引', 5, undefined, live))[0]?.text, '全文 检索 使用 倒排 索引', 'a live signal changes nothing');
    });

    it('keeps tenants apart: another tenant never sees these chunks', async () => {
      await store.createKb('tenant-b', { id: 'default', name: 'default', embedder: 'hash:8', embedDim: CONTRACT_DIM });
      assert.deepEqual(await store.searchLexical({ tenantId: 'tenant-b', kbId: 'default' }, 'mitochondria zebrafish 检索', 10), []);
      assert.equal((await store.listDocuments({ tenantId: 'tenant-b', kbId: 'default' }, { limit: 10 })).documents.length, 0);
      assert.equal((await store.documentCounts('tenant-b')).ready, 0);
      assert.ok((await store.documentCounts()).ready >= 1);
    });

    it('searches vectors nearest first, or says it cannot', async () => {
      const s = { tenantId: 'default', kbId: 'idx' };
      const q = new Float32Array(CONTRACT_DIM);
      q[1] = 1;
      if (store.vectorSearch?.available === false) {
        assert.ok(store.vectorSearch.reason);
        await assert.rejects(store.searchVector(s, q, 5), VectorSearchUnavailableError);
        return;
      }
      const hits = await store.searchVector(s, q, 2);
      assert.equal(hits[0]?.text, 'Photosynthesis runs in chloroplasts of plant cells.');
      assert.ok(hits[0]!.score > hits[1]!.score);
    });

    it('deletes a document: gone from search, version bumped, a later commit writes nothing', async () => {
      const s = { tenantId: 'default', kbId: 'idx' };
      const [hit] = await store.searchLexical(s, 'mitochondria', 1);
      const v = (await store.getKb(s))!.version;
      const gone = await store.deleteDocument(s, hit!.documentId);
      assert.equal(gone?.id, hit!.documentId);
      assert.deepEqual(await store.searchLexical(s, 'mitochondria', 5), []);
      assert.ok((await store.getKb(s))!.version > v);
      assert.equal((await store.getTask('default', gone!.task_id))?.status, 'succeeded', 'a finished task stays readable');
      assert.equal(await index(s, gone!, ['resurrected mitochondria']), null);
      assert.deepEqual(await store.searchLexical(s, 'resurrected', 5), []);
      assert.equal(await store.deleteDocument(s, hit!.documentId), null);
    });

    it('deletes a KB with everything in it and returns its blob keys', async () => {
      const s = { tenantId: 'default', kbId: 'bm25' };
      const docs = (await store.listDocuments(s, { limit: 100 })).documents;
      const removed = await store.deleteKb(s);
      assert.deepEqual(removed?.documentIds.sort(), docs.map((d) => d.id).sort());
      assert.equal(removed?.blobKeys.length, docs.length);
      assert.equal(await store.getKb(s), null);
      assert.deepEqual(await store.searchLexical(s, 'protein', 5), []);
      assert.equal(await store.deleteKb(s), null);
    });

    it('keeps OCR settings: a KB default, a document mode, what the ocr stage read, a chunk confidence', async () => {
      const s = { tenantId: 'default', kbId: 'ocr' };
      assert.equal((await store.getKb(scope))?.ocr, 'auto', 'a KB made without a mode OCRs in auto');
      const kb = await store.createKb('default', { id: 'ocr', name: 'ocr', embedder: 'hash:8', embedDim: CONTRACT_DIM, ocr: 'force' });
      assert.equal(kb.ocr, 'force');
      assert.equal((await store.listKbs('default')).find((k) => k.id === 'ocr')?.ocr, 'force');
      assert.equal((await store.kbState(s))?.kb.ocr, 'force');
      const plain = await newDoc(s);
      assert.deepEqual(plain.document.ocr, { mode: 'auto' }, 'a document uploaded without a mode OCRs in auto');
      const scan = await store.createDocument({
        scope: s, id: 'doc_scan', taskId: 'task_scan', name: '扫描件.png', type: 'image', contentHash: 'scan', bytes: 10,
        blobKey: 'sources/default/ocr/scan', metadata: {}, ocr: 'off',
      });
      assert.deepEqual(scan.document.ocr, { mode: 'off' });
      await store.recordOcr(s, 'doc_scan', { mode: 'force', engine: 'tesseract', pages: [1, 3] });
      assert.deepEqual((await store.getDocument(s, 'doc_scan'))?.ocr, { mode: 'force', engine: 'tesseract', pages: [1, 3] });
      assert.deepEqual((await store.listDocuments(s, { limit: 10 })).documents.find((d) => d.id === 'doc_scan')?.ocr, {
        mode: 'force', engine: 'tesseract', pages: [1, 3],
      });
      await store.recordOcr({ tenantId: 'tenant-b', kbId: 'ocr' }, 'doc_scan', { mode: 'off' });
      assert.equal((await store.getDocument(s, 'doc_scan'))?.ocr.engine, 'tesseract', 'another tenant cannot rewrite it');

      await index(s, scan.document, ['扫描 页面 的 文字 识别 结果', 'a page with a text layer'], { ocrConfidence: [0.8125] });
      const [read] = await store.searchLexical(s, '识别', 5);
      assert.equal(read?.ocrConfidence, 0.8125, 'the engine confidence comes back exactly');
      const [layer] = await store.searchLexical(s, 'layer', 5);
      assert.equal(layer?.ocrConfidence, null, 'text from a text layer has no confidence');
      if (store.vectorSearch?.available !== false) {
        const q = new Float32Array(CONTRACT_DIM);
        q[0] = 1;
        const [nearest] = await store.searchVector(s, q, 1);
        assert.equal(nearest?.ocrConfidence, 0.8125);
      }
    });

    it('counts a document being OCR\'d (recognizing) as pending', async () => {
      const s = { tenantId: 'default', kbId: 'ocr' };
      const { document } = await newDoc(s);
      const pendingBefore = await store.countPending(s);
      const countsBefore = await store.documentCounts('default');
      await store.transition({
        scope: s, documentId: document.id, taskId: document.task_id, status: 'recognizing', stage: 'ocr', taskStatus: 'running', progress: { done: 1, total: 5 },
      });
      const doc = await store.getDocument(s, document.id);
      assert.equal(doc?.status, 'recognizing');
      assert.equal(doc?.stage, 'ocr');
      assert.equal(await store.countPending(s), pendingBefore, 'still pending while recognizing');
      assert.equal((await store.kbState(s))?.pending, pendingBefore);
      const counts = await store.documentCounts('default');
      assert.equal(counts.recognizing, countsBefore.recognizing + 1);
      assert.equal(counts.queued, countsBefore.queued - 1);
      assert.deepEqual((await store.listDocuments(s, { limit: 10, status: 'recognizing' })).documents.map((d) => d.id), [document.id]);
    });

    it('keeps query tasks: create, patch with a result, purge once expired', async () => {
      const t = await store.createTask({ id: 'task_q1', tenantId: 'default', kbId: 'default', kind: 'retrieve', expiresAt: new Date(Date.now() + 1000).toISOString() });
      assert.equal(t.status, 'queued');
      const done = await store.updateTask('default', 'task_q1', { status: 'succeeded', result: { answer: '答案', n: 1 } });
      assert.deepEqual(done?.result, { answer: '答案', n: 1 });
      assert.ok(done!.version > t.version);
      assert.equal(await store.updateTask('tenant-b', 'task_q1', { status: 'failed' }), null);
      assert.equal(await store.purgeExpiredTasks(new Date()), 0);
      assert.equal(await store.purgeExpiredTasks(new Date(Date.now() + 5000)), 1);
      assert.equal(await store.getTask('default', 'task_q1'), null);
    });
  });
}
