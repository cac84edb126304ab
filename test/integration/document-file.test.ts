import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makePdf } from '../support/fixtures.js';
import { assertApiError, call, requestJson, startTestServer, type TestServer } from '../support/server.js';

/** GET /v1/kbs/{kb}/documents/{id}/file: the stored original, as uploaded, to its own tenant only. */

describe('downloading a document\'s original file', () => {
  const ADMIN = 'file-admin-key-0123456789abcdef';
  let server: TestServer;
  let url: string;
  const keys: Record<string, string> = {};
  const auth = (who: string) => ({ authorization: `Bearer ${keys[who]}` });

  async function upload(who: string, name: string, bytes: Uint8Array, type: string): Promise<string> {
    const form = new FormData();
    form.append('file', new Blob([bytes], { type }), name);
    const body = await requestJson<{ documents: { id: string }[] }>(`${url}/v1/kbs/default/documents`, { method: 'POST', headers: auth(who), body: form });
    return body.documents[0]!.id;
  }

  before(async () => {
    server = await startTestServer({ RAGD_ADMIN_KEY: ADMIN });
    url = server.url;
    const admin = { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` };
    for (const t of ['alpha', 'bravo']) {
      await requestJson(`${url}/v1/admin/tenants`, { method: 'POST', headers: admin, body: JSON.stringify({ id: t }) });
      keys[t] = (await requestJson<{ key: string }>(`${url}/v1/admin/tenants/${t}/keys`, { method: 'POST', headers: admin, body: '{}' })).key;
    }
  });
  after(async () => server?.close());

  it('streams the exact bytes with the stored type and the Chinese name in filename*', async () => {
    const pdf = await makePdf([['The orchard harvests apples in autumn.'], ['Page two: pears in winter.']]);
    const name = '年度报告 (终稿).pdf';
    const id = await upload('alpha', name, pdf, 'application/pdf');
    const res = await fetch(`${url}/v1/kbs/default/documents/${id}/file`, { headers: auth('alpha') });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/pdf');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.match(res.headers.get('content-security-policy') ?? '', /sandbox/);
    const disposition = res.headers.get('content-disposition') ?? '';
    assert.match(disposition, /^attachment; /);
    const star = /filename\*=UTF-8''([^;]+)/.exec(disposition);
    assert.ok(star, disposition);
    assert.equal(decodeURIComponent(star[1]!), name, 'the exact original name, in UTF-8');
    assert.match(disposition, /filename="[\x20-\x7e]*\.pdf"/, 'an ASCII fallback');
    assert.match(disposition, /filename\*=UTF-8''[A-Za-z0-9%._~!$&+-]+$/, 'filename* is pure RFC 5987 attr-chars and percent escapes');
    const bytes = new Uint8Array(await res.arrayBuffer());
    assert.equal(Number(res.headers.get('content-length')), pdf.byteLength);
    assert.deepEqual(bytes, pdf, 'the same bytes as uploaded');
  });

  it('gives a Markdown upload a text type and only its last path segment as the name', async () => {
    const text = '# 简介\n\n果园在秋天收获苹果。';
    const id = await upload('alpha', '文档/简介.md', new TextEncoder().encode(text), 'text/markdown');
    const res = await fetch(`${url}/v1/kbs/default/documents/${id}/file`, { headers: auth('alpha') });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/markdown; charset=utf-8');
    assert.match(res.headers.get('content-disposition') ?? '', /filename\*=UTF-8''%E7%AE%80%E4%BB%8B\.md$/);
    assert.equal(await res.text(), text);
  });

  it('is a 404 for another tenant\'s document, an unknown one, and 401 without credentials', async () => {
    const id = await upload('alpha', 'secret.pdf', await makePdf([['alpha only']]), 'application/pdf');
    const path = `${url}/v1/kbs/default/documents/${id}/file`;
    assertApiError(await call(path, { headers: auth('bravo') }), 404, 'not_found');
    assertApiError(await call(`${url}/v1/kbs/default/documents/doc_nope/file`, { headers: auth('alpha') }), 404, 'not_found');
    assertApiError(await call(path), 401);
    assert.equal((await call(path, { headers: auth('alpha') })).status, 200);
  });

  it('is in the OpenAPI document', async () => {
    const spec = await requestJson<{ paths: Record<string, Record<string, unknown>> }>(`${url}/openapi.json`, { headers: auth('alpha') });
    const op = spec.paths['/v1/kbs/{kb}/documents/{id}/file']?.get as { responses: Record<string, { content?: Record<string, unknown> }> } | undefined;
    assert.ok(op, 'the route is documented');
    assert.ok(op.responses['200']?.content?.['application/octet-stream']);
    assert.ok(op.responses['4XX'] ?? op.responses['4xx'], 'refusals are documented');
  });
});
