import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPermanent } from '../../src/domain/errors.js';
import type { DocType, ParsedDocument, ParseLimits } from '../../src/domain/types.js';
import { parseBytes } from '../../src/parsing/index.js';
import { layoutPage } from '../../src/parsing/pdf.js';
import { readCentralDirectory } from '../../src/parsing/zip-guard.js';
import {
  CSV_SAMPLE,
  HTML_WITH_SCRIPT,
  JSONL_SAMPLE,
  JSON_SAMPLE,
  MARKDOWN_NESTED,
  docxParts,
  makeCorruptPdf,
  makeDocx,
  makeEmptyFile,
  makeInvalidUtf8,
  makeLyingZipBombDocx,
  makePdf,
  makeTruncatedPdf,
  makeZipBombDocx,
  utf8,
} from '../support/fixtures.js';
import { zipSync } from 'fflate';

const LIMITS: ParseLimits = {
  maxUnzippedBytes: 50 * 1024 * 1024,
  maxZipRatio: 100,
  maxPdfPages: 50,
  maxTextChars: 2_000_000,
  maxDocxXmlBytes: 50 * 1024 * 1024,
};

const texts = (d: ParsedDocument) => d.blocks.map((b) => b.text);
const allText = (d: ParsedDocument) => texts(d).join('\n');

/** Assert the promise rejects with a PermanentError whose message matches. */
async function rejectsPermanent(p: Promise<unknown>, message: RegExp, code?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isPermanent(err), `expected a PermanentError, got ${String(err)}`);
    assert.match((err as Error).message, message);
    if (code) assert.equal((err as { code: string }).code, code);
    return true;
  });
}

describe('common rules (all text formats)', () => {
  const textTypes: DocType[] = ['text', 'markdown', 'html', 'csv', 'json'];

  for (const type of textTypes) {
    it(`${type}: invalid UTF-8 is a permanent error`, async () => {
      await rejectsPermanent(parseBytes(type, makeInvalidUtf8(), LIMITS), /invalid UTF-8/, 'invalid_utf8');
    });
    it(`${type}: an empty file has no text`, async () => {
      await rejectsPermanent(parseBytes(type, makeEmptyFile(), LIMITS), /no text could be extracted/, 'no_text');
    });
  }

  it('a whitespace-only file has no text', async () => {
    await rejectsPermanent(parseBytes('text', utf8(' \n\t\n\u00a0 '), LIMITS), /no text/);
    await rejectsPermanent(parseBytes('html', utf8('<html><script>x()</script></html>'), LIMITS), /no text/);
    await rejectsPermanent(parseBytes('json', utf8('{}'), LIMITS), /no text/);
  });

  it('enforces maxTextChars', async () => {
    const big = utf8('word '.repeat(5000));
    await rejectsPermanent(parseBytes('text', big, { ...LIMITS, maxTextChars: 1000 }), /exceeds the limit of 1000/, 'too_large');
    // CSV repeats the header on every row: the amplified output is what is limited.
    const csv = utf8('a_very_long_column_name_indeed,b\n' + '1,2\n'.repeat(500));
    await rejectsPermanent(parseBytes('csv', csv, { ...LIMITS, maxTextChars: 5000 }), /exceeds the limit/);
  });

  it('strips a BOM and control characters, keeps tabs, normalises whitespace', async () => {
    const doc = await parseBytes('text', utf8('\uFEFFHello\u0007   wide\u0000 world\r\n\r\nsecond\tpara'), LIMITS);
    assert.deepEqual(texts(doc), ['Hello wide world', 'second para']);
    const md = await parseBytes('markdown', utf8('```\nif x:\n\tpass\u0001\n```'), LIMITS);
    assert.equal(md.blocks[0]!.text, 'if x:\n\tpass');
  });
});

describe('text', () => {
  it('splits paragraphs on blank lines and joins wrapped lines', async () => {
    const doc = await parseBytes('text', utf8('First line\nstill first.\n\n  \nSecond paragraph.\n\n\nThird.'), LIMITS);
    assert.deepEqual(texts(doc), ['First line still first.', 'Second paragraph.', 'Third.']);
    assert.ok(doc.blocks.every((b) => b.kind === 'paragraph' && b.headingPath.length === 0));
  });
});

describe('markdown', () => {
  it('keeps ATX and setext headings as structure with heading paths on every block', async () => {
    const doc = await parseBytes('markdown', utf8(MARKDOWN_NESTED), LIMITS);
    assert.equal(doc.title, 'Guide');
    const find = (t: string) => doc.blocks.find((b) => b.text.includes(t));
    assert.deepEqual(find('Intro paragraph')!.headingPath, ['Guide']);
    assert.deepEqual(find('Use the package manager')!.headingPath, ['Guide', 'Setup', 'Linux']);
    // setext "Usage\n-----" is an h2: it pops Linux and Setup's level
    const usage = doc.blocks.find((b) => b.kind === 'heading' && b.text === 'Usage')!;
    assert.equal(usage.level, 2);
    assert.deepEqual(usage.headingPath, ['Guide', 'Usage']);
    assert.deepEqual(find('Final words')!.headingPath, ['Appendix']);
    assert.ok(doc.blocks.every((b) => b.headingPath.length > 0));
  });

  it('keeps fenced code whole (a # inside is not a heading), lists as list, tables as table', async () => {
    const doc = await parseBytes('markdown', utf8(MARKDOWN_NESTED), LIMITS);
    const code = doc.blocks.filter((b) => b.kind === 'code');
    assert.equal(code.length, 1);
    assert.equal(code[0]!.text, '# not a heading\napt-get install tool\n\necho done');
    assert.ok(!doc.blocks.some((b) => b.kind === 'heading' && b.text.includes('not a heading')));
    const list = doc.blocks.find((b) => b.kind === 'list')!;
    assert.equal(list.text, '- first item\n- second item\n  - nested item');
    const table = doc.blocks.find((b) => b.kind === 'table')!;
    assert.equal(table.text, 'Flag | Meaning\n-v | verbose');
  });

  it('strips inline markup and front matter', async () => {
    const doc = await parseBytes('markdown', utf8(MARKDOWN_NESTED), LIMITS);
    assert.ok(!allText(doc).includes('SHOULD_NOT_APPEAR'));
    assert.ok(doc.blocks.some((b) => b.text === 'Intro paragraph with a link and bold text.'));
    assert.ok(!allText(doc).includes('https://example.com'));
  });

  it('stays fast on pathological inline markup and long lines', async () => {
    const hostile = [
      '# a' + ' '.repeat(200_000) + 'x',
      'a | b\n|' + ' '.repeat(200_000) + 'x',
      '['.repeat(200_000),
      '[a]('.repeat(50_000),
      '<!--'.repeat(50_000),
      '*x '.repeat(100_000),
    ];
    for (const md of hostile) {
      const started = Date.now();
      await parseBytes('markdown', utf8(md), LIMITS);
      assert.ok(Date.now() - started < 1500, `${md.slice(0, 12)}… took ${Date.now() - started} ms`);
    }
  });

  it('an unclosed fence runs to the end of the file', async () => {
    const doc = await parseBytes('markdown', utf8('# T\n\n```\ncode line\n# still code'), LIMITS);
    assert.equal(doc.blocks.at(-1)!.kind, 'code');
    assert.equal(doc.blocks.at(-1)!.text, 'code line\n# still code');
  });
});

describe('html', () => {
  it('keeps visible text only and the <title>', async () => {
    const doc = await parseBytes('html', utf8(HTML_WITH_SCRIPT), LIMITS);
    assert.equal(doc.title, 'Solar Guide');
    const all = allText(doc);
    assert.ok(!all.includes('SHOULD_NOT_APPEAR'), all);
    assert.ok(!all.includes('color: red'));
    assert.ok(!all.includes('Solar Guide'), 'the title is metadata, not body text');
    assert.ok(all.includes('Solar panels convert sunlight into electricity & heat.'));
  });

  it('turns h1–h6 into heading paths and li/table/pre into list/table/code blocks', async () => {
    const doc = await parseBytes('html', utf8(HTML_WITH_SCRIPT), LIMITS);
    const byText = (t: string) => doc.blocks.find((b) => b.text === t)!;
    assert.deepEqual(byText('Mount the panels facing south.').headingPath, ['Solar Panels', 'Installation']);
    assert.equal(byText('Check the roof angle.').kind, 'list');
    assert.deepEqual(byText('Use stainless bolts.').headingPath, ['Solar Panels', 'Installation']);
    const table = doc.blocks.find((b) => b.kind === 'table')!;
    assert.equal(table.text, 'Task | Interval\nClean glass | Monthly');
    assert.deepEqual(table.headingPath, ['Solar Panels', 'Maintenance']);
    const pre = doc.blocks.find((b) => b.kind === 'code')!;
    assert.equal(pre.text, 'inverter --status\n  ok');
    assert.equal(doc.blocks[0]!.kind, 'heading');
    assert.equal(doc.blocks[0]!.level, 1);
  });

  it('handles nested lists and paragraphs inside table cells (mammoth-style output)', async () => {
    const html = '<ul><li>outer<ul><li>inner</li></ul></li></ul><table><tr><td><p>a</p><p>b</p></td><td>c</td></tr></table>';
    const doc = await parseBytes('html', utf8(html), LIMITS);
    assert.deepEqual(doc.blocks.map((b) => [b.kind, b.text]), [['list', 'outer'], ['list', 'inner'], ['table', 'a b | c']]);
  });

  it('keeps words apart across inline and block boundaries', async () => {
    const doc = await parseBytes('html', utf8('<div>one<div>two</div>three<br>four</div><p>five<span>six</span></p>'), LIMITS);
    assert.deepEqual(texts(doc), ['one', 'two', 'three four', 'fivesix']);
  });
});

describe('pdf', () => {
  it('extracts text per page with 1-based page numbers and paragraphs', async () => {
    const pdf = await makePdf(
      [
        ['Alpha paragraph on the first page.', 'Beta paragraph, also on page one, long enough to wrap onto a second line of the page because it keeps going and going.'],
        ['Gamma text lives on page two.'],
        ['Delta closes page three.'],
      ],
      { title: 'Greek Letters' },
    );
    const doc = await parseBytes('pdf', pdf, LIMITS);
    assert.equal(doc.pages, 3);
    assert.equal(doc.title, 'Greek Letters');
    const page = (t: string) => doc.blocks.find((b) => b.text.includes(t))?.page;
    assert.equal(page('Alpha'), 1);
    assert.equal(page('Beta'), 1);
    assert.equal(page('Gamma'), 2);
    assert.equal(page('Delta'), 3);
    // the wrapped paragraph comes back as one block, joined with a space
    const beta = doc.blocks.find((b) => b.text.startsWith('Beta'))!;
    assert.match(beta.text, /second line of the page because it keeps going and going\.$/);
    assert.equal(doc.blocks.filter((b) => b.page === 1).length, 2);
  });

  it('refuses more pages than maxPdfPages', async () => {
    const pdf = await makePdf([['one'], ['two'], ['three']]);
    await rejectsPermanent(parseBytes('pdf', pdf, { ...LIMITS, maxPdfPages: 2 }), /3 pages.*limit of 2/, 'too_many_pages');
  });

  it('rejects a corrupt PDF quickly with a readable permanent error', async () => {
    const started = Date.now();
    await rejectsPermanent(parseBytes('pdf', makeCorruptPdf(), LIMITS), /^corrupt PDF: Invalid PDF structure$/, 'corrupt_pdf');
    assert.ok(Date.now() - started < 5000);
  });

  it('a truncated PDF settles (error or partial text), never hangs', async () => {
    const started = Date.now();
    try {
      await parseBytes('pdf', await makeTruncatedPdf(0.6), LIMITS);
    } catch (err) {
      assert.ok(isPermanent(err), String(err));
    }
    assert.ok(Date.now() - started < 5000);
  });

  it('a PDF with no text layer has no text', async () => {
    await rejectsPermanent(parseBytes('pdf', await makePdf([[]]), LIMITS), /no text could be extracted/);
  });

  it('layoutPage joins items, inserts gap spaces and re-joins hyphenated words', () => {
    const item = (str: string, x: number, y: number, width: number, hasEOL = false) => ({
      str, transform: [10, 0, 0, 10, x, y], width, height: 10, hasEOL,
    });
    const paras = layoutPage([
      item('Hello', 0, 700, 25),
      item('world', 30, 700, 25, true), // 5pt gap: a space
      item('a hyphen-', 0, 688, 40, true),
      item('ated word', 0, 676, 40, true),
      item('New paragraph', 0, 640, 60, true), // big gap: new paragraph
    ]);
    assert.deepEqual(paras, ['Hello world a hyphenated word', 'New paragraph']);
  });
});

describe('docx', () => {
  it('keeps Heading1/Heading2 as structure', async () => {
    const docx = makeDocx([
      { style: 'Heading1', text: 'Overview' },
      { text: 'The overview paragraph.' },
      { style: 'Heading2', text: 'Details & more' },
      { text: 'A detailed paragraph.' },
      { style: 'Heading1', text: 'Second chapter' },
      { text: 'Chapter two text.' },
    ]);
    const doc = await parseBytes('docx', docx, LIMITS);
    const headings = doc.blocks.filter((b) => b.kind === 'heading');
    assert.deepEqual(headings.map((h) => [h.text, h.level]), [['Overview', 1], ['Details & more', 2], ['Second chapter', 1]]);
    const by = (t: string) => doc.blocks.find((b) => b.text === t)!;
    assert.deepEqual(by('A detailed paragraph.').headingPath, ['Overview', 'Details & more']);
    assert.deepEqual(by('Chapter two text.').headingPath, ['Second chapter']);
  });

  it('rejects a zip bomb from its declared sizes, quickly and without inflating it', async () => {
    const bomb = makeZipBombDocx(); // 200 MiB of zeros inside
    const before = process.memoryUsage();
    const started = Date.now();
    await rejectsPermanent(parseBytes('docx', bomb, LIMITS), /zip bomb/, 'zip_bomb');
    assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
    const after = process.memoryUsage();
    const grew = after.arrayBuffers + after.heapUsed - (before.arrayBuffers + before.heapUsed);
    assert.ok(grew < 32 * 1024 * 1024, `memory grew by ${grew} bytes`);
  });

  it('rejects a zip bomb by ratio even when the total is under the limit', async () => {
    const bomb = makeZipBombDocx(20); // 20 MiB at ~1000:1, under the 50 MiB total
    await rejectsPermanent(parseBytes('docx', bomb, LIMITS), /compression ratio/, 'zip_bomb');
  });

  it('rejects an entry that inflates beyond its (lying) declared size', async () => {
    const bomb = makeLyingZipBombDocx(64);
    const before = process.memoryUsage();
    const started = Date.now();
    await rejectsPermanent(parseBytes('docx', bomb, LIMITS), /inflates beyond its declared 4096 bytes/, 'zip_bomb');
    assert.ok(Date.now() - started < 1000);
    const after = process.memoryUsage();
    assert.ok(after.arrayBuffers + after.heapUsed - (before.arrayBuffers + before.heapUsed) < 32 * 1024 * 1024);
  });

  it('rejects a file that is not a zip, and a zip without word/document.xml', async () => {
    await rejectsPermanent(parseBytes('docx', utf8('PK\u0003\u0004 definitely not a zip archive, just text'), LIMITS), /not a valid zip/, 'invalid_docx');
    const parts = docxParts([{ text: 'x' }]);
    delete parts['word/document.xml'];
    await rejectsPermanent(parseBytes('docx', zipSync(parts), LIMITS), /word\/document\.xml is missing/, 'invalid_docx');
  });

  it('reads the central directory of the fixture (sanity of the reader)', () => {
    const entries = readCentralDirectory(makeDocx([{ text: 'x' }]));
    assert.ok(entries.some((e) => e.name === 'word/document.xml' && e.uncompressedSize > 0));
  });
});

describe('csv', () => {
  it('renders rows as "col: value" lines, handling quotes and empty cells', async () => {
    const doc = await parseBytes('csv', utf8(CSV_SAMPLE), LIMITS);
    assert.equal(doc.blocks.length, 1);
    assert.equal(doc.blocks[0]!.kind, 'table');
    assert.deepEqual(doc.blocks[0]!.text.split('\n'), [
      'name: Alice; age: 30; city: Paris',
      'name: Bob; age: 25; city: Berlin, Germany',
      'name: Carol; city: Rome',
    ]);
  });

  it('groups rows ~20 to a block and guesses the delimiter', async () => {
    const rows = Array.from({ length: 45 }, (_, i) => `${i};item ${i}`).join('\n');
    const doc = await parseBytes('csv', utf8(`id;label\n${rows}\n`), LIMITS);
    assert.deepEqual(doc.blocks.map((b) => b.text.split('\n').length), [20, 20, 5]);
    assert.equal(doc.blocks[2]!.text.split('\n')[4], 'id: 44; label: item 44');
  });

  it('indexes a header-only CSV as one line', async () => {
    const doc = await parseBytes('csv', utf8('name,age,city\n'), LIMITS);
    assert.deepEqual(texts(doc), ['name | age | city']);
  });

  it('rejects malformed CSV with a permanent error', async () => {
    await rejectsPermanent(parseBytes('csv', utf8('a,b\n"unterminated,1\n2,3'), LIMITS), /invalid CSV/);
  });
});

describe('json', () => {
  it('flattens to path lines', async () => {
    const doc = await parseBytes('json', utf8(JSON_SAMPLE), LIMITS);
    const lines = allText(doc).split('\n');
    assert.ok(lines.includes('title: Inventory'));
    assert.ok(lines.includes('owner.email: dana@example.com'));
    assert.ok(lines.includes('items[0].tags[1]: small'));
    assert.ok(lines.includes('items[1].active: false'));
  });

  it('reads JSONL (blank lines allowed) with record indexes', async () => {
    const doc = await parseBytes('json', utf8(JSONL_SAMPLE), LIMITS);
    const lines = allText(doc).split('\n');
    assert.ok(lines.includes('[1].meta.lang: en'));
    assert.ok(lines.includes('[2].text: third record'));
  });

  it('groups into blocks of at most 20 lines, keeping small records together', async () => {
    const records = Array.from({ length: 30 }, (_, i) => ({ id: i, name: `n${i}`, v: i * 2 }));
    const doc = await parseBytes('json', utf8(JSON.stringify(records)), LIMITS);
    for (const b of doc.blocks) {
      const lines = b.text.split('\n');
      assert.ok(lines.length <= 20);
      // a 3-line record is never split across blocks
      const first = lines[0]!.match(/^\[(\d+)\]/)![1];
      assert.ok(lines.slice(0, 3).every((l) => l.startsWith(`[${first}]`)));
    }
    assert.equal(doc.blocks.length, 5); // 6 records (18 lines) per block
  });

  it('quotes keys that are not identifiers', async () => {
    const doc = await parseBytes('json', utf8('{"a b": {"x.y": 1}}'), LIMITS);
    assert.equal(allText(doc), '["a b"]["x.y"]: 1');
  });

  it('rejects invalid JSON and invalid JSONL', async () => {
    await rejectsPermanent(parseBytes('json', utf8('{"a": '), LIMITS), /invalid JSON/, 'invalid_json');
    await rejectsPermanent(parseBytes('json', utf8('{"a":1}\n{"b":\n'), LIMITS), /invalid JSON: line 2/);
  });

  it('survives hostile nesting without overflowing the stack', async () => {
    const depth = 100_000;
    const doc = await parseBytes('json', utf8('['.repeat(depth) + '"deep"' + ']'.repeat(depth)), LIMITS);
    assert.match(allText(doc), /\[0\]: deep$/);
  });
});
