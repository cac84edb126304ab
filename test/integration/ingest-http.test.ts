/**
 * Ingestion over real HTTP: a ragd server in this process on a real port, a real SQLite data
 * directory, real worker threads. Results are checked through the API and, where the API does
 * not show them (chunks, full-text and vector rows, files), in the database and on disk.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { openDatabase, type Db } from '../../src/adapters/embedded/sqlite/open.js';
import { STAGES } from '../../src/domain/types.js';
import {
  CSV_SAMPLE,
  HTML_WITH_SCRIPT,
  JSON_SAMPLE,
  JSONL_SAMPLE,
  MARKDOWN_NESTED,
  makeCorruptPdf,
  makeDocx,
  makeEmptyFile,
  makeInvalidUtf8,
  makeLyingZipBombDocx,
  makePdf,
  makePng,
  makeZipBombDocx,
  utf8,
} from '../support/fixtures.js';
import {
  call,
  postFiles,
  prng,
  readSse,
  requestJson,
  startTestServer,
  syntheticDocument,
  uploadFile,
  uploadText,
  waitFor,
  waitReady,
  waitSettled,
  type DocView,
  type TestServer,
} from '../support/server.js';

const CHUNK_TOKENS = 128;

interface ChunkRow {
  rowid: number;
  ordinal: number;
  text: string;
  page: number | null;
  heading_path: string;
  token_count: number;
}

function withDb<T>(dataDir: string, fn: (db: Db) => T): T {
  const db = openDatabase(join(dataDir, 'ragd.db'), { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function chunksOf(dataDir: string, documentId: string): ChunkRow[] {
  return withDb(dataDir, (db) =>
    db
      .prepare('SELECT rowid, ordinal, text, page, heading_path, token_count FROM chunks WHERE document_id = ? ORDER BY ordinal')
      .all(documentId) as ChunkRow[],
  );
}

/** The default KB's own full-text table (one per KB, see kb-fts.ts). */
const defaultFts = (db: Db) => `kb_fts_${Number(db.prepare(`SELECT fts_no FROM kbs WHERE id = 'default'`).pluck().get())}`;

/** Full-text and vector rows still present for the given chunk rowids. */
function indexRows(dataDir: string, rowids: number[]): { fts: number; vectors: number } {
  if (rowids.length === 0) return { fts: 0, vectors: 0 };
  return withDb(dataDir, (db) => {
    const dim = db.prepare(`SELECT embed_dim FROM kbs WHERE id = 'default'`).pluck().get() as number;
    const list = rowids.map(Number).join(',');
    return {
      fts: db.prepare(`SELECT count(*) FROM ${defaultFts(db)} WHERE rowid IN (${list})`).pluck().get() as number,
      vectors: db.prepare(`SELECT count(*) FROM vec_d${Number(dim)} WHERE rowid IN (${list})`).pluck().get() as number,
    };
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name));
}

/** A chunk is at most chunkTokens long, and ordinals run 0..n-1 without gaps. */
function assertWellFormed(chunks: ChunkRow[], label: string): void {
  assert.ok(chunks.length > 0, `${label}: has chunks`);
  chunks.forEach((c, i) => {
    assert.equal(c.ordinal, i, `${label}: ordinal ${i}`);
    assert.ok(c.token_count > 0 && c.token_count <= CHUNK_TOKENS, `${label}: chunk ${i} has ${c.token_count} tokens`);
    assert.ok(c.text.trim().length > 0, `${label}: chunk ${i} has text`);
  });
}

const bytesOf = (s: string) => Buffer.from(s, 'utf8');

/** Words that occur nowhere else, to find exactly where a piece of text ended up. */
const marker = (name: string) => `zq${name}marker`;

describe('ingestion over HTTP', { timeout: 300_000 }, () => {
  let srv: TestServer;
  let url: string;

  before(async () => {
    srv = await startTestServer({ RAGD_CHUNK_TOKENS: String(CHUNK_TOKENS), RAGD_CHUNK_OVERLAP: '16' });
    url = srv.url;
  });
  after(async () => {
    await srv?.close();
  });

  test('every parser: the document ends ready with well-formed chunks in the index', async () => {
    const rand = prng(7);
    const longText = syntheticDocument(rand, 1, 'txt', 12_000).text;
    const txt = `${marker('start')} ${longText}\n\nClosing paragraph ${marker('end')}.`;
    const samples: { name: string; bytes: Uint8Array; expect: string[]; absent?: string[] }[] = [
      { name: 'long.txt', bytes: bytesOf(txt), expect: [marker('start'), marker('end')] },
      { name: 'guide.md', bytes: bytesOf(MARKDOWN_NESTED), expect: ['package manager', 'Final words'], absent: ['SHOULD_NOT_APPEAR'] },
      { name: 'solar.html', bytes: bytesOf(HTML_WITH_SCRIPT), expect: ['sunlight', 'facing south'], absent: ['SHOULD_NOT_APPEAR', 'tracking'] },
      { name: 'people.csv', bytes: bytesOf(CSV_SAMPLE), expect: ['Alice', 'Berlin, Germany'] },
      { name: 'inventory.json', bytes: bytesOf(JSON_SAMPLE), expect: ['Inventory', 'dana@example.com'] },
      { name: 'records.jsonl', bytes: bytesOf(JSONL_SAMPLE), expect: ['first record', 'third record'] },
      {
        name: 'report.docx',
        bytes: makeDocx([
          { style: 'Heading1', text: 'Quarterly Report' },
          { text: `Revenue grew in every region ${marker('docx')}.` },
          { style: 'Heading2', text: 'Outlook' },
          { text: 'The outlook for next year is stable.' },
        ]),
        expect: [marker('docx'), 'outlook for next year'],
      },
    ];
    const uploaded = await Promise.all(samples.map((s) => uploadFile(url, 'default', s.name, s.bytes)));
    const docs = await waitReady(url, 'default', uploaded.map((u) => u.id));

    samples.forEach((s, i) => {
      const doc = docs[i]!;
      const chunks = chunksOf(srv.dataDir, doc.id);
      assertWellFormed(chunks, s.name);
      assert.equal(doc.chunks, chunks.length, `${s.name}: listing shows the indexed chunk count`);
      const all = chunks.map((c) => c.text).join('\n');
      for (const e of s.expect) assert.ok(all.includes(e), `${s.name}: indexed text contains "${e}"`);
      for (const a of s.absent ?? []) assert.ok(!all.includes(a), `${s.name}: "${a}" must not be indexed`);
      const rows = indexRows(srv.dataDir, chunks.map((c) => c.rowid));
      assert.deepEqual(rows, { fts: chunks.length, vectors: chunks.length }, `${s.name}: one full-text row and one vector per chunk`);
    });

    // The long text is split into several chunks, each a slice of the original (the parser
    // normalises whitespace between paragraphs, so compare with whitespace runs collapsed).
    const longChunks = chunksOf(srv.dataDir, docs[0]!.id);
    assert.ok(longChunks.length >= 12_000 / 4 / CHUNK_TOKENS, `long.txt: ${longChunks.length} chunks`);
    const flat = (x: string) => x.replace(/\s+/g, ' ').trim();
    for (const c of longChunks) assert.ok(flat(txt).includes(flat(c.text)), `long.txt: chunk ${c.ordinal} is a slice of the source`);

    // DOCX headings become the chunks' heading paths.
    const docxChunks = chunksOf(srv.dataDir, docs[6]!.id);
    const withMarker = docxChunks.find((c) => c.text.includes(marker('docx')))!;
    assert.ok((JSON.parse(withMarker.heading_path) as string[]).includes('Quarterly Report'), 'DOCX heading path');
  });

  test('PDF: chunks carry the page they come from', async () => {
    const rand = prng(11);
    // Each page is long enough to fill several chunks, and every sentence names its page, so
    // the first sentence of a chunk (possibly overlap from the page before) tells its page.
    const page = (n: number) =>
      Array.from({ length: 6 }, () =>
        syntheticDocument(rand, n, 'txt', 500)
          .text.split('\n\n')[1]!
          .replace(/\./g, ` ${marker(`page${n}`)}.`),
      );
    const pdf = await makePdf([page(1), page(2), page(3)], { title: 'Three pages' });
    const up = await uploadFile(url, 'default', 'three-pages.pdf', pdf);
    const [doc] = await waitReady(url, 'default', [up.id]);
    assert.equal(doc!.type, 'pdf');
    const chunks = chunksOf(srv.dataDir, up.id);
    assertWellFormed(chunks, 'pdf');
    assert.ok(chunks.every((c) => c.page !== null && c.page >= 1 && c.page <= 3), 'every PDF chunk has a page in 1..3');
    const pages = chunks.map((c) => c.page!);
    assert.deepEqual([...new Set(pages)], [1, 2, 3], 'chunks cover the pages in order');
    for (const c of chunks) {
      // A chunk's page is the page its text starts on: that of the first marker in it.
      const first = /zqpage(\d)marker/.exec(c.text);
      assert.ok(first, `chunk ${c.ordinal} holds a whole sentence`);
      assert.equal(c.page, Number(first[1]), `chunk ${c.ordinal} starts on page ${first[1]}: ${c.text.slice(0, 80)}`);
    }
  });

  test('hostile and broken files fail with a readable error; the server keeps serving', async () => {
    const bad = [
      { name: 'corrupt.pdf', bytes: makeCorruptPdf(), error: /pdf/i },
      { name: 'bomb.docx', bytes: makeZipBombDocx(200), error: /zip bomb|uncompressed|ratio/i },
      { name: 'lying-bomb.docx', bytes: makeLyingZipBombDocx(64), error: /zip bomb|uncompressed|ratio|size/i },
      { name: 'latin1.txt', bytes: makeInvalidUtf8(), error: /UTF-8/ },
    ];
    const uploads = await Promise.all(bad.map((b) => uploadFile(url, 'default', b.name, b.bytes)));
    const good = await uploadText(url, 'default', 'after-the-bad-ones.txt', `Still working ${marker('alive')}.`);
    const settled = await waitSettled(url, 'default', [...uploads.map((u) => u.id), good.id]);

    bad.forEach((b, i) => {
      const doc = settled[i]!;
      assert.equal(doc.status, 'failed', `${b.name} fails`);
      assert.match(doc.error ?? '', b.error, `${b.name}: error says why`);
      assert.ok(!/\n\s+at /.test(doc.error ?? ''), `${b.name}: no stack trace in the error`);
      assert.equal(chunksOf(srv.dataDir, doc.id).length, 0, `${b.name}: nothing indexed`);
    });
    const task = await requestJson<{ status: string; error: string }>(`${url}/v1/tasks/${uploads[0]!.task_id}`);
    assert.equal(task.status, 'failed');
    assert.match(task.error, /pdf/i);

    assert.equal(settled[bad.length]!.status, 'ready', 'a document uploaded after the bad ones is ready');
    assert.equal((await call(`${url}/healthz`)).status, 200);
    assert.equal((await call(`${url}/readyz`)).status, 200);
  });

  test('upload refusals: empty 400, lying extension 415, unsupported type 415 listing the supported ones', async () => {
    const empty = await postFiles(url, 'default', [{ name: 'empty.txt', bytes: makeEmptyFile() }]);
    assert.equal(empty.status, 400);
    assert.equal(typeof empty.body.error.message, 'string');

    const lying = await postFiles(url, 'default', [{ name: 'photo.pdf', bytes: makePng() }]);
    assert.equal(lying.status, 415);
    assert.match(lying.body.error.message, /photo\.pdf/);

    const pdfAsText = await postFiles(url, 'default', [{ name: 'notes.txt', bytes: await makePdf([['hello']]) }]);
    assert.equal(pdfAsText.status, 415, 'a PDF named .txt is refused');

    const png = await postFiles(url, 'default', [{ name: 'image.gif', bytes: makePng() }]);
    assert.equal(png.status, 415);
    for (const ext of ['.pdf', '.docx', '.md', '.html', '.txt', '.csv', '.json']) {
      assert.ok(png.body.error.message.includes(ext), `415 message lists ${ext}: ${png.body.error.message}`);
    }

    // None of the refused uploads left a document behind.
    const listing = await requestJson<{ documents: DocView[] }>(`${url}/v1/kbs/default/documents?limit=1000`);
    const names = new Set(listing.documents.map((d) => d.name));
    for (const n of ['empty.txt', 'photo.pdf', 'notes.txt', 'image.gif']) assert.ok(!names.has(n), `${n} not recorded`);
  });

  test('JSON bodies: invalid UTF-8 and unknown fields are 400', async () => {
    const invalid = Buffer.concat([Buffer.from('{"name":"a.txt","text":"caf'), Buffer.from([0xe9, 0xc3, 0x28, 0xff]), Buffer.from('"}')]);
    const r1 = await call(`${url}/v1/kbs/default/documents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: invalid });
    assert.equal(r1.status, 400);
    assert.equal(typeof r1.body.error.code, 'string');

    const r2 = await call(`${url}/v1/kbs/default/documents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'a.txt', text: 'hello', colour: 'blue' }),
    });
    assert.equal(r2.status, 400);
    assert.match(r2.body.error.message, /colour|additional|unknown/i);

    const r3 = await call(`${url}/v1/kbs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id": "x",' });
    assert.equal(r3.status, 400);
  });

  test('a duplicate upload returns the existing document', async () => {
    const text = `Duplicate detection ${marker('dup')}.`;
    const first = await uploadFile(url, 'default', 'original.txt', bytesOf(text));
    assert.equal(first.duplicate, false);
    const again = await uploadFile(url, 'default', 'renamed-copy.txt', bytesOf(text));
    assert.equal(again.duplicate, true);
    assert.equal(again.id, first.id);
    assert.equal(again.task_id, first.task_id);
    const viaJson = await uploadText(url, 'default', 'original.txt', text);
    assert.equal(viaJson.id, first.id);
    assert.equal(viaJson.duplicate, true);
    await waitReady(url, 'default', [first.id]);
    assert.equal((await call(`${url}/v1/kbs/default/documents/${first.id}`)).body.name, 'original.txt');
  });

  test('SSE: the current state first, then every stage in order, ending in succeeded', async () => {
    const rand = prng(3);
    const up = await uploadText(url, 'default', 'sse.md', syntheticDocument(rand, 5, 'md', 20_000).text);
    const res = await fetch(`${url}/v1/tasks/${up.task_id}/events`, { signal: AbortSignal.timeout(60_000) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events: { event: string; data: any; id: string | null }[] = [];
    for await (const e of readSse(res.body!)) events.push({ event: e.event, id: e.id, data: JSON.parse(e.data) });

    const tasks = events.filter((e) => e.event === 'task').map((e) => e.data);
    assert.ok(tasks.length >= 1);
    assert.equal(events[events.length - 1]!.event, 'end', 'the stream ends with an end event');
    assert.equal(tasks[tasks.length - 1].status, 'succeeded');
    for (let i = 1; i < tasks.length; i++) assert.ok(tasks[i].version > tasks[i - 1].version, 'versions strictly increase');
    for (const e of events.filter((x) => x.event === 'task')) assert.equal(Number(e.id), e.data.version, 'SSE id is the version');

    // From the first state seen on, no stage may be skipped or repeated out of order (a text file
    // has nothing to OCR: its `ocr` stage is skipped by design).
    const stages = STAGES.filter((s) => s !== 'ocr');
    const firstStage = tasks[0].status === 'queued' ? 0 : Math.max(0, stages.indexOf(tasks[0].stage));
    const seen = tasks.map((t) => t.stage).filter((s, i, a): s is string => s !== null && s !== a[i - 1]);
    assert.deepEqual(seen, stages.slice(firstStage), `stages in order from the first state: ${JSON.stringify(tasks.map((t) => [t.status, t.stage]))}`);

    // Subscribing to a finished task: its current (final) state, then the end.
    const snapshot = await requestJson<{ version: number; status: string }>(`${url}/v1/tasks/${up.task_id}`);
    const again = await fetch(`${url}/v1/tasks/${up.task_id}/events`, { signal: AbortSignal.timeout(10_000) });
    const replay: { event: string; data: any }[] = [];
    for await (const e of readSse(again.body!)) replay.push({ event: e.event, data: JSON.parse(e.data) });
    assert.deepEqual(replay.map((e) => e.event), ['task', 'end']);
    assert.equal(replay[0]!.data.version, snapshot.version);
    assert.equal(replay[0]!.data.status, 'succeeded');

    assert.equal((await call(`${url}/v1/tasks/task_doesnotexist00/events`)).status, 404);
  });

  test('deleting a ready document removes its chunks, index rows and stored file', async () => {
    const text = `Deletion check ${marker('gone')}. ${syntheticDocument(prng(5), 9, 'txt', 4000).text}`;
    const up = await uploadText(url, 'default', 'to-delete.txt', text);
    const [doc] = await waitReady(url, 'default', [up.id]);
    const chunks = chunksOf(srv.dataDir, up.id);
    assert.ok(chunks.length > 1);
    const source = join(srv.dataDir, 'blobs', 'sources', 'default', 'default', doc!.content_hash);
    assert.ok(existsSync(source), 'the upload is stored while the document exists');

    const del = await call(`${url}/v1/kbs/default/documents/${up.id}`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    assert.equal((await call(`${url}/v1/kbs/default/documents/${up.id}`)).status, 404);
    assert.equal((await call(`${url}/v1/kbs/default/documents/${up.id}`, { method: 'DELETE' })).status, 404, 'deleting twice is 404');

    assert.equal(chunksOf(srv.dataDir, up.id).length, 0, 'chunk rows gone');
    assert.deepEqual(indexRows(srv.dataDir, chunks.map((c) => c.rowid)), { fts: 0, vectors: 0 }, 'full-text and vector rows gone');
    const hits = withDb(srv.dataDir, (db) =>
      db.prepare(`SELECT count(*) FROM ${defaultFts(db)} WHERE ${defaultFts(db)} MATCH ?`).pluck().get(`"${marker('gone')}"`),
    );
    assert.equal(hits, 0, 'not findable by full-text search');
    assert.ok(!existsSync(source), 'stored file gone');
    assert.ok(!existsSync(join(srv.dataDir, 'blobs', 'stages', 'default', up.id)), 'stage outputs gone');
  });

  test('deleting a document mid-pipeline cancels it cleanly', async () => {
    // Big enough that parsing, chunking and embedding take a while.
    const big = syntheticDocument(prng(13), 77, 'md', 4 * 1024 * 1024).text;
    const up = await uploadText(url, 'default', 'big.md', big);
    const status = await waitFor(
      async () => {
        const d = (await call(`${url}/v1/kbs/default/documents/${up.id}`)).body as DocView;
        return d.status !== 'queued' && d.status;
      },
      { timeoutMs: 60_000, intervalMs: 10, what: 'the big document to enter the pipeline' },
    );
    assert.ok(['parsing', 'chunking', 'embedding', 'indexing'].includes(status), `deleted while ${status}: must be mid-pipeline`);
    assert.equal((await call(`${url}/v1/kbs/default/documents/${up.id}`, { method: 'DELETE' })).status, 204);

    const task = await requestJson<{ status: string; error: string }>(`${url}/v1/tasks/${up.task_id}`);
    assert.equal(task.status, 'failed');
    assert.match(task.error, /delete/i);

    // Let the pipeline go idle: whatever was running for the document has stopped by then.
    const runtime = srv.server.runtime;
    await waitFor(() => runtime.pipeline.activeJobs === 0 && runtime.pool.stats().queued === 0, {
      timeoutMs: 60_000,
      what: 'the pipeline to go idle',
    });
    const jobs = withDb(srv.dataDir, (db) => db.prepare('SELECT count(*) FROM jobs WHERE document_id = ?').pluck().get(up.id));
    assert.equal(jobs, 0, 'no job left for the deleted document');
    assert.equal(chunksOf(srv.dataDir, up.id).length, 0, 'no chunks appeared for it');
    assert.equal((await call(`${url}/v1/kbs/default/documents/${up.id}`)).status, 404);
    assert.deepEqual(await filesUnder(join(srv.dataDir, 'blobs', 'stages', 'default', up.id)), [], 'no stage outputs left');

    // And the pipeline still works.
    const next = await uploadText(url, 'default', 'after-cancel.txt', `After the cancel ${marker('next')}.`);
    await waitReady(url, 'default', [next.id]);
  });

  test('knowledge bases: create, list, use, delete', async () => {
    const created = await call(`${url}/v1/kbs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'kb-alpha', name: 'Alpha' }),
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.id, 'kb-alpha');
    assert.equal(
      (await call(`${url}/v1/kbs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"kb-alpha"}' })).status,
      409,
    );
    assert.equal(
      (await call(`${url}/v1/kbs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"../etc"}' })).status,
      400,
    );
    const ids = (await requestJson<{ kbs: { id: string }[] }>(`${url}/v1/kbs`)).kbs.map((k) => k.id);
    assert.ok(ids.includes('default') && ids.includes('kb-alpha'));

    // The same content in two KBs is two documents: deduplication is per KB.
    const text = `Per-KB content ${marker('kb')}.`;
    const inDefault = await uploadText(url, 'default', 'kb.txt', text);
    const inAlpha = await uploadText(url, 'kb-alpha', 'kb.txt', text);
    assert.notEqual(inAlpha.id, inDefault.id);
    assert.equal(inAlpha.duplicate, false);
    await waitReady(url, 'kb-alpha', [inAlpha.id]);
    await waitReady(url, 'default', [inDefault.id]);
    assert.ok(chunksOf(srv.dataDir, inAlpha.id).length > 0);

    assert.equal((await call(`${url}/v1/kbs/kb-alpha`, { method: 'DELETE' })).status, 204);
    assert.ok(!(await requestJson<{ kbs: { id: string }[] }>(`${url}/v1/kbs`)).kbs.some((k) => k.id === 'kb-alpha'));
    assert.equal((await call(`${url}/v1/kbs/kb-alpha/documents`)).status, 404);
    assert.equal((await call(`${url}/v1/kbs/kb-alpha`, { method: 'DELETE' })).status, 404);
    assert.equal(chunksOf(srv.dataDir, inAlpha.id).length, 0, 'the KB’s chunks are gone');
    assert.equal(chunksOf(srv.dataDir, inDefault.id).length > 0, true, 'the other KB is untouched');
    assert.deepEqual(await filesUnder(join(srv.dataDir, 'blobs', 'sources', 'default', 'kb-alpha')), [], 'the KB’s files are gone');
    assert.equal((await call(`${url}/v1/kbs/default`, { method: 'DELETE' })).status, 409, 'default cannot be deleted');
    assert.equal((await call(`${url}/v1/kbs/nope/documents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"a","text":"b"}' })).status, 404);
  });

  test('WebSocket: the KB event stream carries task events', async () => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/kbs/default/events`);
    const messages: any[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(String(data))));
    try {
      await waitFor(() => messages.some((m) => m.type === 'hello'), { timeoutMs: 10_000, what: 'hello' });
      const up = await uploadText(url, 'default', 'ws.txt', `Over the socket ${marker('ws')}.`);
      const mine = () => messages.filter((m) => m.type === 'task' && m.task.id === up.task_id).map((m) => m.task);
      await waitFor(() => mine().some((t) => t.status === 'succeeded'), { timeoutMs: 60_000, what: 'the task to succeed over WS' });
      const versions = mine().map((t) => t.version);
      assert.deepEqual(versions, [...versions].sort((a, b) => a - b), 'events arrive in version order');
      assert.ok(mine().some((t) => t.status === 'running'), 'running states are pushed too');
    } finally {
      ws.close();
    }

    // An unknown KB closes the socket with 4404.
    const missing = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/kbs/nope/events`);
    const code = await new Promise<number>((resolve, reject) => {
      missing.on('close', (c) => resolve(c));
      missing.on('error', reject);
    });
    assert.equal(code, 4404);
  });
});

/** One sample of the Prometheus text format. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const prefix = labels ? `${name}{${labels}} ` : `${name} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

describe('metrics', { timeout: 120_000 }, () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(async () => {
    await srv?.close();
  });

  test('GET /metrics: Prometheus text with this server\'s own counts', async () => {
    const ok = await uploadText(srv.url, 'default', 'm1.txt', `Metrics one ${marker('m1')}.`);
    const bad = await uploadFile(srv.url, 'default', 'm2.pdf', makeCorruptPdf());
    await waitSettled(srv.url, 'default', [ok.id, bad.id]);

    const res = await fetch(`${srv.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    // Counts come from this server's store: another app in this process has its own registry.
    assert.equal(sample(text, 'ragd_documents', 'status="ready"'), 1);
    assert.equal(sample(text, 'ragd_documents', 'status="failed"'), 1);
    assert.equal(sample(text, 'ragd_documents', 'status="queued"'), 0);
    for (const stage of STAGES) {
      assert.equal(sample(text, 'ragd_pipeline_jobs', `stage="${stage}",state="active"`), 0, `${stage} active`);
    }
    for (const name of ['p50', 'p99', 'max']) {
      const v = sample(text, `ragd_event_loop_delay_${name}_seconds`);
      assert.ok(v !== undefined && v >= 0 && Number.isFinite(v), `ragd_event_loop_delay_${name}_seconds = ${v}`);
    }
    const utilization = sample(text, 'ragd_worker_pool_utilization', 'pool="ingest"');
    assert.ok(utilization !== undefined && utilization >= 0 && utilization <= 1);
    assert.equal(sample(text, 'ragd_worker_pool_queue_length', 'pool="ingest"'), 0);
    assert.ok(text.includes('process_resident_memory_bytes'), 'default process metrics');

    // The loop-delay window ends at each scrape: a window with a known 150 ms block shows it.
    const block = Date.now() + 150;
    while (Date.now() < block) {
      // Busy-wait on purpose: this is the stall the gauges must report.
    }
    await new Promise((r) => setTimeout(r, 50));
    const after = await (await fetch(`${srv.url}/metrics`)).text();
    assert.ok(sample(after, 'ragd_event_loop_delay_max_seconds')! >= 0.1, 'the stall shows in max');
  });
});

describe('upload size limit', { timeout: 120_000 }, () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ RAGD_MAX_UPLOAD_BYTES: '4096' });
  });
  after(async () => {
    await srv?.close();
  });

  test('too large is 413 and leaves no partial file behind', async () => {
    const oversized = bytesOf(Array.from({ length: 2000 }, (_, i) => `line ${i} of an oversized upload`).join('\n'));
    assert.ok(oversized.length > 4096 * 10);
    const multipart = await postFiles(srv.url, 'default', [{ name: 'big.txt', bytes: oversized }]);
    assert.equal(multipart.status, 413);
    assert.match(multipart.body.error.message, /4096/);

    const json = await call(`${srv.url}/v1/kbs/default/documents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'big.txt', text: 'y'.repeat(5000) }),
    });
    assert.equal(json.status, 413);

    // Just under the limit is fine.
    const fits = await uploadFile(srv.url, 'default', 'fits.txt', utf8('z '.repeat(2000)));
    await waitReady(srv.url, 'default', [fits.id]);

    assert.deepEqual(await filesUnder(join(srv.dataDir, 'tmp')), [], 'no partial upload in tmp');
    const sources = await filesUnder(join(srv.dataDir, 'blobs', 'sources'));
    assert.equal(sources.length, 1, `only the accepted file is stored: ${sources.join(', ')}`);
    const listing = await requestJson<{ documents: DocView[] }>(`${srv.url}/v1/kbs/default/documents`);
    assert.deepEqual(listing.documents.map((d) => d.name), ['fits.txt']);
  });
});
