/**
 * Issue 16 item 1: document metadata is capped the same for JSON and multipart uploads, counted
 * in the tenant's stored bytes, and no page of a document list grows past a byte budget however
 * much metadata its documents carry. Also (Low): an invalid cursor is a 400, not page one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { utf8 } from '../support/fixtures.js';
import { assertApiError, call, postFiles, startTestServer, type TestServer } from '../support/server.js';

const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const bigMetadata = (bytes: number) => ({ note: 'x'.repeat(bytes) });

describe('metadata limits', { timeout: 120_000 }, () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ RAGD_TENANT_MAX_STORED_BYTES: '200000' });
  });
  after(async () => {
    await srv?.close();
  });

  test('a JSON upload with more than 64 KB of metadata is 413, as a multipart one is', async () => {
    const tooMuch = bigMetadata(70 * 1024);
    assertApiError(await call(`${srv.url}/v1/kbs/default/documents`, json({ name: 'a.txt', text: 'hello', metadata: tooMuch })), 413, 'too_large');
    const form = new FormData();
    form.append('metadata', JSON.stringify(tooMuch));
    form.append('file', new Blob([utf8('hello')]), 'a.txt');
    assertApiError(await call(`${srv.url}/v1/kbs/default/documents`, { method: 'POST', body: form }), 413, 'too_large');
  });

  test('metadata counts against the stored-bytes quota', async () => {
    await call(`${srv.url}/v1/kbs`, json({ id: 'quota' }));
    // 4 × 60 KB of metadata on 10-byte texts: the fourth passes 200,000 bytes only by its metadata.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await call(`${srv.url}/v1/kbs/quota/documents`, json({ name: `m${i}.txt`, text: `tiny ${i} doc`, metadata: bigMetadata(60_000) }));
      statuses.push(res.status);
      if (i === 3) assertApiError(res, 413, 'storage_quota_exceeded');
    }
    assert.deepEqual(statuses, [202, 202, 202, 413]);
  });
});

describe('list pages are bounded in bytes', { timeout: 120_000 }, () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({});
  });
  after(async () => {
    await srv?.close();
  });

  test('a page of documents with large metadata stops before its byte budget; the cursor reaches them all', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const res = await call(`${srv.url}/v1/kbs/default/documents`, json({ name: `d${i}.txt`, text: `document number ${i}`, metadata: bigMetadata(60_000) }));
      assert.equal(res.status, 202);
      ids.add(res.body.documents[0].id);
    }
    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await fetch(`${srv.url}/v1/kbs/default/documents?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
      const text = await res.text();
      assert.equal(res.status, 200);
      assert.ok(text.length <= 1.2 * 1024 * 1024, `a page is ${text.length} bytes`);
      const body = JSON.parse(text) as { documents: { id: string }[]; next_cursor: string | null };
      assert.ok(body.documents.length > 0);
      for (const d of body.documents) seen.add(d.id);
      cursor = body.next_cursor;
      pages++;
    } while (cursor && pages < 50);
    assert.ok(pages > 1, 'the list was cut into pages by bytes');
    assert.deepEqual([...seen].sort(), [...ids].sort());
  });

  test('a knowledge base display name loses NUL and bidi-override characters (Low)', async () => {
    const created = await call(`${srv.url}/v1/kbs`, json({ id: 'named', name: 'Sales\u0000 知识\u202Egnp.exe' }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.name, 'Sales 知识gnp.exe');
    assert.equal((await call(`${srv.url}/v1/kbs/named`)).body.name, 'Sales 知识gnp.exe');
  });

  test('an invalid cursor is a 400, not page one', async () => {
    for (const cursor of ['!!!', '-5', 'NaN', Buffer.from('-5').toString('base64url'), Buffer.from('NaN').toString('base64url')]) {
      assertApiError(await call(`${srv.url}/v1/kbs/default/documents?cursor=${encodeURIComponent(cursor)}`), 400, 'invalid_cursor');
    }
  });
});
