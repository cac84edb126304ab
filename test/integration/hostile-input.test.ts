/**
 * Hostile input over real HTTP, one case per test. Every case must end in a clear 4xx with
 * `{error:{code,message}}` — or, for a file that only its parser can judge, in that one document
 * failing with a readable error — while a document stored before it stays intact and the server
 * keeps serving (`afterEach` checks both after every case).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { makeDocx, makeLyingZipBombDocx, makePdf, makePng, makeZipBombDocx, makeInvalidUtf8, utf8 } from '../support/fixtures.js';
import {
  call,
  listDocuments,
  postFiles,
  requestJson,
  startTestServer,
  uploadFile,
  uploadText,
  waitReady,
  waitSettled,
  type DocView,
  type TestServer,
  assertApiError,
  filesUnder,
} from '../support/server.js';

const MAX_JSON_BYTES = 64 * 1024;
const MAX_PDF_PAGES = 3;

const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });


/** A multipart body written by hand, so filenames reach the server byte for byte (FormData would escape them). */
function rawMultipart(parts: { filename: string | Buffer; bytes: Uint8Array }[]): RequestInit {
  const boundary = '----ragdhostile7d3f';
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="`, 'utf8'));
    chunks.push(Buffer.isBuffer(p.filename) ? p.filename : Buffer.from(p.filename, 'utf8'), Buffer.from('"\r\n'));
    chunks.push(Buffer.from('Content-Type: application/octet-stream\r\n\r\n'), Buffer.from(p.bytes), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body: Buffer.concat(chunks) };
}


describe('hostile input', { timeout: 300_000 }, () => {
  let srv: TestServer;
  let url: string;
  let anchor: DocView;

  before(async () => {
    srv = await startTestServer({
      RAGD_MAX_JSON_BYTES: String(MAX_JSON_BYTES),
      RAGD_MAX_PDF_PAGES: String(MAX_PDF_PAGES),
      RAGD_MAX_FILES_PER_REQUEST: '3',
    });
    url = srv.url;
    const up = await uploadText(url, 'default', 'anchor.txt', 'The anchor document must survive every hostile request.');
    anchor = (await waitReady(url, 'default', [up.id]))[0]!;
  });
  after(async () => {
    await srv?.close();
  });
  afterEach(async () => {
    // Nothing lost: the document stored before the case is untouched. Still serving: a new upload works.
    const now = await requestJson<DocView>(`${url}/v1/kbs/default/documents/${anchor.id}`);
    assert.equal(now.status, 'ready');
    assert.equal(now.chunks, anchor.chunks);
    assert.equal((await call(`${url}/readyz`)).status, 200);
  });

  test('path-traversal and control-character filenames are kept only as display names', async () => {
    const names = [
      '../../../../etc/passwd.txt',
      '..\\..\\windows\\system.ini.txt',
      '/abs/olute.md',
      'ansi\u001b[31mred\u0007bell\u007f.txt',
      'bidi\u202Etxt.exe.md',
      '\u0000\u0001.hidden.txt',
      `${'long'.repeat(300)}.txt`,
    ];
    const res = await call(`${url}/v1/kbs/default/documents`, rawMultipart(names.map((n, i) => ({ filename: n, bytes: utf8(`file number ${i}`) }))));
    // Four files per request is over this server's limit of 3: the first three are accepted, and listed.
    assertApiError(res, 413, 'too_large');
    assert.equal(res.body.error.accepted.length, 3);
    const rest = await call(`${url}/v1/kbs/default/documents`, rawMultipart(names.slice(3).map((n, i) => ({ filename: n, bytes: utf8(`file number ${i + 3}`) }))));
    assert.equal(rest.status, 413);
    const third = await call(`${url}/v1/kbs/default/documents`, rawMultipart(names.slice(6).map((n) => ({ filename: n, bytes: utf8('file number 6') }))));
    assert.equal(third.status, 202);

    const accepted = [...res.body.error.accepted, ...rest.body.error.accepted, ...third.body.documents] as { id: string; name: string }[];
    assert.deepEqual(
      accepted.map((d) => d.name),
      ['passwd.txt', 'system.ini.txt', 'olute.md', 'ansi[31mredbell.txt', 'biditxt.exe.md', 'hidden.txt', `${'long'.repeat(300)}.txt`.slice(0, 255)],
    );
    for (const d of accepted) assert.doesNotMatch(d.name, /[\\/\u0000-\u001f\u007f\u202e]/, `display name ${JSON.stringify(d.name)}`);
    await waitReady(url, 'default', accepted.map((d) => d.id));
    // Files live under their content hash inside the data directory, never under the given name.
    const stored = (await filesUnder(srv.dataDir)).map((f) => basename(f));
    assert.ok(stored.every((f) => !/passwd|system\.ini|olute/.test(f)), stored.join('\n'));
    assert.equal(existsSync(join(dirname(srv.dataDir), 'passwd.txt')), false);
    for (const d of accepted) assert.equal((await call(`${url}/v1/kbs/default/documents/${d.id}`, { method: 'DELETE' })).status, 204);
  });

  test('a filename with a raw line break cannot inject a header or a name', async () => {
    const res = await call(`${url}/v1/kbs/default/documents`, rawMultipart([{ filename: 'a\r\nX-Evil: 1\r\n.txt', bytes: utf8('x') }]));
    // busboy ends the filename at the line break; what follows is not a header of ours.
    if (res.status === 202) {
      const [doc] = res.body.documents as { id: string; name: string }[];
      assert.equal(doc!.name, 'a');
      assert.equal((await call(`${url}/v1/kbs/default/documents/${doc!.id}`, { method: 'DELETE' })).status, 204);
    } else {
      assertApiError(res, 400);
    }
  });

  test('the content type is sniffed against the extension; a mismatch is 415 and stores nothing', async () => {
    const before = (await listDocuments(url, 'default')).length;
    for (const [name, bytes] of [
      ['invoice.pdf', makePng()],
      ['notes.txt', await makePdf([['a pdf in disguise']])],
      ['letter.docx', utf8('plain text, not a zip')],
      ['readme.md', makeDocx([{ text: 'a zip named .md' }])],
      ['setup.exe', utf8('MZ not supported')],
    ] as const) {
      assertApiError(await postFiles(url, 'default', [{ name, bytes }]), 415);
    }
    assert.equal((await listDocuments(url, 'default')).length, before);
    assert.deepEqual(await filesUnder(join(srv.dataDir, 'tmp')), []);
  });

  test('DOCX decompression: a ratio bomb, a size bomb and a lying header fail only their own document', async () => {
    const bombs = [
      await uploadFile(url, 'default', 'ratio.docx', makeZipBombDocx(200)),
      await uploadFile(url, 'default', 'lying.docx', makeLyingZipBombDocx(300)),
    ];
    const docs = await waitSettled(url, 'default', bombs.map((b) => b.id));
    for (const d of docs) {
      assert.equal(d.status, 'failed');
      assert.match(d.error ?? '', /zip bomb|uncompressed|ratio|size|limit/i);
      assert.equal(d.chunks, 0);
    }
  });

  test(`a PDF over ${MAX_PDF_PAGES} pages fails with a page-count error`, async () => {
    const pages = Array.from({ length: MAX_PDF_PAGES + 2 }, (_, i) => [`Page ${i + 1} text.`]);
    const up = await uploadFile(url, 'default', 'long.pdf', await makePdf(pages));
    const [doc] = await waitSettled(url, 'default', [up.id]);
    assert.equal(doc!.status, 'failed');
    assert.match(doc!.error ?? '', /page/i);
  });

  test('body and field size limits: JSON body, metadata field, files per request', async () => {
    const big = await call(`${url}/v1/kbs/default/documents`, json({ name: 'big.txt', text: 'x'.repeat(MAX_JSON_BYTES) }));
    assertApiError(big, 413, 'too_large');
    assert.match(big.body.error.message, /65536 bytes/);

    const form = new FormData();
    form.append('metadata', JSON.stringify({ pad: 'm'.repeat(70 * 1024) }));
    form.append('file', new Blob([utf8('with huge metadata')]), 'meta.txt');
    assertApiError(await call(`${url}/v1/kbs/default/documents`, { method: 'POST', body: form }), 413, 'too_large');

    const files = Array.from({ length: 5 }, (_, i) => ({ name: `many-${i}.txt`, bytes: utf8(`many ${i} ${'z'.repeat(i)}`) }));
    const many = await postFiles(url, 'default', files);
    assertApiError(many, 413, 'too_large');
    assert.equal(many.body.error.accepted.length, 3, 'the files before the limit are kept and listed');
    for (const d of many.body.error.accepted) await call(`${url}/v1/kbs/default/documents/${d.id}`, { method: 'DELETE' });

    // A header block past Node's limit is refused by the HTTP parser itself.
    const header = await call(`${url}/v1/kbs`, { headers: { 'x-pad': 'h'.repeat(20_000) } });
    assertApiError(header, 431, 'headers_too_large');
  });

  test('invalid UTF-8: 400 for a JSON body or a filename-less text; a file fails only itself', async () => {
    const body = Buffer.concat([Buffer.from('{"name":"a.txt","text":"caf'), Buffer.from([0xe9, 0xff]), Buffer.from('"}')]);
    const res = await call(`${url}/v1/kbs/default/documents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assertApiError(res, 400, 'invalid_utf8');
    const query = await call(`${url}/v1/kbs/default/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.concat([Buffer.from('{"query":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
    });
    assertApiError(query, 400, 'invalid_utf8');

    // A filename in Latin-1 is decoded leniently: a readable display name, never a crash.
    const latinName = await call(`${url}/v1/kbs/default/documents`, rawMultipart([{ filename: Buffer.from([0x63, 0x61, 0x66, 0xe9, 0xff, 0x2e, 0x74, 0x78, 0x74]), bytes: utf8('latin-1 name') }]));
    assert.equal(latinName.status, 202, JSON.stringify(latinName.body));
    const named = latinName.body.documents[0] as { id: string; name: string };
    assert.match(named.name, /^caf.*\.txt$/);
    assert.equal((await call(`${url}/v1/kbs/default/documents/${named.id}`, { method: 'DELETE' })).status, 204);

    const up = await uploadFile(url, 'default', 'latin1.txt', makeInvalidUtf8());
    const [doc] = await waitSettled(url, 'default', [up.id]);
    assert.equal(doc!.status, 'failed');
    assert.match(doc!.error ?? '', /UTF-8/);
  });

  test('unknown JSON fields are rejected by schema on every body', async () => {
    assertApiError(await call(`${url}/v1/kbs`, json({ id: 'kb-x', colour: 'blue' })), 400, 'invalid_request');
    assertApiError(await call(`${url}/v1/kbs/default/documents`, json({ name: 'a.txt', text: 'a', owner: 'root' })), 400, 'invalid_request');
    assertApiError(await call(`${url}/v1/kbs/default/query`, json({ query: 'anchor', admin: true })), 400, 'invalid_request');
    assertApiError(await call(`${url}/v1/kbs/default/retrieve`, json({ query: 'anchor', filter: { sql: '1=1' } })), 400, 'invalid_request');
    assertApiError(await call(`${url}/v1/kbs/default/documents?limit=5&evil=1`), 400, 'invalid_request');
    assertApiError(await call(`${url}/v1/kbs/default/documents`, json({ name: 'p.txt', text: 'p', metadata: JSON.parse('{"__proto__":{"x":1}}') })), 400);
  });

  test('oversized queries: text, top_k, list limit and ids are bounded', async () => {
    assertApiError(await call(`${url}/v1/kbs/default/query`, json({ query: 'q'.repeat(4001) })), 400, 'query_too_long');
    assertApiError(await call(`${url}/v1/kbs/default/query`, json({ query: 'anchor', top_k: 1_000_000 })), 400);
    assertApiError(await call(`${url}/v1/kbs/default/documents?limit=1000000`), 400);
    assertApiError(await call(`${url}/v1/kbs/${'k'.repeat(5000)}/documents`), 414);
    assertApiError(await call(`${url}/v1/kbs/%E0%A4%A/documents`), 400);
    assertApiError(await call(`${url}/v1/tasks/..%2F..%2Fetc%2Fpasswd`), 400);
    const ids = Array.from({ length: 20_000 }, (_, i) => `doc_${i}`);
    const filter = await call(`${url}/v1/kbs/default/query`, json({ query: 'anchor', filter: { document_ids: ids } }));
    assert.ok(filter.status === 400 || filter.status === 413, `a huge id filter is refused: ${filter.status}`);
  });

  test('deeply nested metadata is 400, in a JSON body and in a multipart field', async () => {
    const depth = 10_000; // ~60 KB: just under this server's JSON body limit
    const body = `{"name":"deep.txt","text":"deep metadata","metadata":{"deep":${'{"a":'.repeat(depth)}"leaf"${'}'.repeat(depth)}}}`;
    const res = await call(`${url}/v1/kbs/default/documents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assertApiError(res, 400, 'invalid_metadata');
    const form = new FormData();
    form.append('metadata', `{"deep":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`);
    form.append('file', new Blob([utf8('deep metadata as a form field')]), 'deep.txt');
    assertApiError(await call(`${url}/v1/kbs/default/documents`, { method: 'POST', body: form }), 400, 'invalid_metadata');
    // A few levels are fine.
    const ok = await call(`${url}/v1/kbs/default/documents`, json({ name: 'shallow.txt', text: 'shallow', metadata: { a: { b: { c: [1, { d: 2 }] } } } }));
    assert.equal(ok.status, 202);
    await call(`${url}/v1/kbs/default/documents/${ok.body.documents[0].id}`, { method: 'DELETE' });
    assert.deepEqual(await filesUnder(join(srv.dataDir, 'tmp')), []);
  });
});

describe('parser time limit', { timeout: 300_000 }, () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ RAGD_TASK_TIMEOUT_MS: '3000', RAGD_MAX_UPLOAD_BYTES: String(64 * 1024 * 1024) });
  });
  after(async () => {
    await srv?.close();
  });

  test('a file that takes too long to parse is stopped and fails alone; the next one is ready', async () => {
    const before = await uploadText(srv.url, 'default', 'before.txt', 'Uploaded before the slow file.');
    await waitReady(srv.url, 'default', [before.id]);
    // ~12 MB of CSV takes several seconds to parse: well past the 3 s limit.
    const slow = await uploadFile(srv.url, 'default', 'slow.csv', utf8(`a,b,c\n${'1,2,3\n'.repeat(2_000_000)}`));
    const [failed] = await waitSettled(srv.url, 'default', [slow.id], { timeoutMs: 120_000 });
    assert.equal(failed!.status, 'failed');
    assert.match(failed!.error ?? '', /did not finish within 3000 ms/);

    const next = await uploadText(srv.url, 'default', 'after.txt', 'Uploaded after the slow file.');
    await waitReady(srv.url, 'default', [next.id], { timeoutMs: 60_000 });
    assert.equal((await requestJson<DocView>(`${srv.url}/v1/kbs/default/documents/${before.id}`)).status, 'ready');
  });
});
