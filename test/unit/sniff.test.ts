import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { extensionOf, isProbablyText, sniffType } from '../../src/parsing/sniff.js';
import { makeCorruptPdf, makeDocx, makePdf, makePng, utf8 } from '../support/fixtures.js';

const head = (b: Uint8Array) => b.subarray(0, 4096);

describe('sniffType', () => {
  it('accepts each supported extension with matching content, case-insensitively', async () => {
    const pdf = await makePdf([['hello']]);
    assert.deepEqual(sniffType('Report.PDF', head(pdf)), { ok: true, type: 'pdf' });
    assert.deepEqual(sniffType('a.docx', head(makeDocx([{ text: 'x' }]))), { ok: true, type: 'docx' });
    assert.deepEqual(sniffType('notes.TXT', utf8('hello')), { ok: true, type: 'text' });
    assert.deepEqual(sniffType('server.log', utf8('line')), { ok: true, type: 'text' });
    assert.deepEqual(sniffType('README.md', utf8('# hi')), { ok: true, type: 'markdown' });
    assert.deepEqual(sniffType('x.markdown', utf8('# hi')), { ok: true, type: 'markdown' });
    assert.deepEqual(sniffType('page.htm', utf8('<p>x</p>')), { ok: true, type: 'html' });
    assert.deepEqual(sniffType('t.csv', utf8('a,b\n1,2')), { ok: true, type: 'csv' });
    assert.deepEqual(sniffType('d.json', utf8('{"a":1}')), { ok: true, type: 'json' });
    assert.deepEqual(sniffType('d.jsonl', utf8('{"a":1}\n{"a":2}')), { ok: true, type: 'json' });
  });

  it('rejects a PNG named .pdf as a mismatch', () => {
    const r = sniffType('scan.pdf', makePng());
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, 'type_mismatch');
    assert.match(!r.ok ? r.message : '', /not a PDF/);
  });

  it('rejects PDF bytes named .txt, and zip bytes named .md', async () => {
    const pdf = await makePdf([['hello']]);
    const r1 = sniffType('notes.txt', head(pdf));
    assert.equal(!r1.ok && r1.code, 'type_mismatch');
    const r2 = sniffType('notes.md', head(makeDocx([{ text: 'x' }])));
    assert.equal(!r2.ok && r2.code, 'type_mismatch');
  });

  it('rejects a .docx that is not a zip, and a .pdf without the %PDF- header', () => {
    const r1 = sniffType('a.docx', utf8('just text'));
    assert.equal(!r1.ok && r1.code, 'type_mismatch');
    const r2 = sniffType('a.pdf', utf8('just text'));
    assert.equal(!r2.ok && r2.code, 'type_mismatch');
  });

  it('accepts a corrupt-but-PDF-headed file (the parser reports the corruption)', () => {
    assert.deepEqual(sniffType('c.pdf', makeCorruptPdf()), { ok: true, type: 'pdf' });
  });

  it('rejects binary content (NUL bytes) under a text extension', () => {
    const r = sniffType('data.csv', new Uint8Array([0x61, 0x2c, 0x62, 0x00, 0x01, 0x02]));
    assert.equal(!r.ok && r.code, 'type_mismatch');
  });

  it('rejects unknown extensions and lists the supported ones', () => {
    const r = sniffType('photo.gif', makePng());
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, 'unsupported_type');
    const msg = !r.ok ? r.message : '';
    for (const ext of ['.pdf', '.docx', '.md', '.txt', '.html', '.csv', '.json', '.png', '.tiff', '.bmp']) assert.ok(msg.includes(ext), ext);
    const r2 = sniffType('archive.tar.gz', utf8('x'));
    assert.equal(!r2.ok && r2.code, 'unsupported_type');
  });

  it('treats an extension-less text (e.g. JSON) upload as text, but not binary or PDF', async () => {
    assert.deepEqual(sniffType('payload', utf8('{"a": 1}')), { ok: true, type: 'text' });
    assert.equal(sniffType('payload', makePng()).ok, false);
    assert.equal(sniffType('payload', head(await makePdf([['x']]))).ok, false);
  });

  it('accepts an empty text file (the parser reports "no text")', () => {
    assert.deepEqual(sniffType('empty.txt', new Uint8Array(0)), { ok: true, type: 'text' });
  });
});

describe('helpers', () => {
  it('extensionOf handles paths, dotfiles and case', () => {
    assert.equal(extensionOf('dir/sub/File.Md'), '.md');
    assert.equal(extensionOf('C:\\docs\\a.PDF'), '.pdf');
    assert.equal(extensionOf('.bashrc'), '');
    assert.equal(extensionOf('noext'), '');
    assert.equal(extensionOf('dir.v2/noext'), '');
  });

  it('isProbablyText', () => {
    assert.equal(isProbablyText(utf8('héllo\tworld\r\n')), true);
    assert.equal(isProbablyText(new Uint8Array([0x68, 0x00, 0x69])), false);
    assert.equal(isProbablyText(new Uint8Array(100).fill(0x01)), false);
    assert.equal(isProbablyText(new Uint8Array(0)), true);
  });
});
