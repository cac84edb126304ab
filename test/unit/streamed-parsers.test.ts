/**
 * The streaming parsers (plain text, CSV, JSON Lines) must give exactly the blocks of the whole-file parsers
 * whatever the piece boundaries (inside a UTF-8 character, between \r and \n, inside a paragraph
 * break), and bound a paragraph that never ends; the stage files read back line by line and in
 * the whole-file format of earlier versions.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isPermanent } from '../../src/domain/errors.js';
import type { ParsedBlock, ParseLimits } from '../../src/domain/types.js';
import {
  NotJsonLinesError, parseBytes, parseCsvStream, parseJsonLinesStream, parseTextStream, streamedFormat,
} from '../../src/parsing/index.js';
import { readBlocks, readChunks, readParsedDocument, writeAtomically } from '../../src/services/pipeline/stage-lines.js';
import { tempDir } from '../support/server.js';

const LIMITS: ParseLimits = { maxUnzippedBytes: 1 << 26, maxZipRatio: 100, maxPdfPages: 100, maxTextChars: 1_000_000, maxDocxXmlBytes: 1 << 26 };

function* cut(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

const TEXT =
  '\uFEFFFirst line\r\nwrapped here.\r\n\r\n第二段：中文没有空格。\n \t\n混合 text 日本語のテキスト\r\r\nLast\u0007 para\n\n\n';
/** Records that fill blocks unevenly (one of 30 leaves fills a block alone), CRLF, blank lines, Chinese. */
const JSONL =
  '{"id": 1, "text": "first 记录", "tags": ["a", "b"]}\r\n\n  \n' +
  JSON.stringify({ id: 2, big: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, `值 ${i}`])) }) +
  '\n' +
  Array.from({ length: 25 }, (_, i) => JSON.stringify({ id: i + 3, text: `记录 ${i} line\nbreak`, n: null, ok: true })).join('\n') +
  '\n"a bare string"\n[1, {"x": "数组"}]';
const CSV = 'name;城市;note\r\n"Ann";北京;"says ""hi""; twice"\r\nBob;;\r\n\r\n李雷;上海;multi\nline\n';

describe('streamed parsers', () => {
  for (const size of [1, 2, 3, 5, 7, 64, 1 << 20]) {
    it(`plain text in ${size}-byte pieces gives the whole-file blocks`, async () => {
      const bytes = new TextEncoder().encode(TEXT);
      const streamed: ParsedBlock[] = [];
      parseTextStream(cut(bytes, size), (b) => streamed.push(b));
      assert.deepEqual(streamed, (await parseBytes('text', bytes, LIMITS)).blocks);
    });

    it(`CSV in ${size}-byte pieces gives the whole-file blocks`, async () => {
      const bytes = new TextEncoder().encode(CSV);
      const streamed: ParsedBlock[] = [];
      await parseCsvStream(cut(bytes, size), (b) => streamed.push(b));
      assert.deepEqual(streamed, (await parseBytes('csv', bytes, LIMITS)).blocks);
    });

    it(`JSON Lines in ${size}-byte pieces gives the whole-file blocks`, async () => {
      const bytes = new TextEncoder().encode(JSONL);
      const streamed: ParsedBlock[] = [];
      parseJsonLinesStream(cut(bytes, size), (b) => streamed.push(b));
      const whole = (await parseBytes('json', bytes, LIMITS)).blocks;
      assert.ok(whole.length > 3 && JSON.stringify(whole).includes('[1].big.k29: 值 29'));
      assert.deepEqual(streamed, whole);
    });
  }

  it('JSON Lines: an absurd line fails the document as too large, before it is held whole', () => {
    const line = `{"t": "${'x'.repeat(5000)}"}`;
    let pieces = 0;
    const endless = function* () {
      yield new TextEncoder().encode('{"ok": 1}\n');
      for (;;) {
        pieces++;
        yield new TextEncoder().encode(line);
      }
    };
    assert.throws(
      () => parseJsonLinesStream(endless(), () => {}, 64 * 1024),
      (e: unknown) => isPermanent(e) && (e as { code: string }).code === 'too_large' && /line 2 .* longer than/.test(String(e)),
    );
    assert.ok(pieces < 20, `read ${pieces} pieces of one line`);
    // Within the bound, a long record is fine.
    const blocks: ParsedBlock[] = [];
    parseJsonLinesStream(cut(new TextEncoder().encode(`${line}\n${line}`), 1000), (b) => blocks.push(b), 64 * 1024);
    assert.equal(blocks.length, 1);
  });

  it('JSON Lines: a bad record fails with its line; a first line that is not JSON says the file may be one value', () => {
    const parseOf = (text: string) => () => parseJsonLinesStream(cut(new TextEncoder().encode(text), 3), () => {});
    assert.throws(parseOf('{"a": 1}\n\n{"b":\n'), (e: unknown) => isPermanent(e) && !(e instanceof NotJsonLinesError) && /invalid JSON: line 3/.test(String(e)));
    assert.throws(parseOf('{\n  "a": 1\n}\n'), (e: unknown) => e instanceof NotJsonLinesError && isPermanent(e));
    assert.throws(() => parseJsonLinesStream([new Uint8Array([0x7b, 0x7d, 0x0a, 0x22, 0xff, 0x22])], () => {}), (e: unknown) => isPermanent(e) && /UTF-8/.test(String(e)));
    assert.throws(parseOf('{}\n[]\n{"a": ""}\n'), (e: unknown) => isPermanent(e) && /no text/.test(String(e)));
  });

  it('streams text, CSV and JSON Lines by name; .json and the rest are parsed whole', () => {
    assert.equal(streamedFormat('text', 'a.log'), 'text');
    assert.equal(streamedFormat('csv', 'a.csv'), 'csv');
    assert.equal(streamedFormat('json', 'events.jsonl'), 'jsonl');
    assert.equal(streamedFormat('json', 'EVENTS.NDJSON'), 'jsonl');
    assert.equal(streamedFormat('json', 'data.json'), null);
    assert.equal(streamedFormat('markdown', 'a.jsonl.md'), null);
  });

  it('hands on a paragraph that never ends in bounded blocks, cut at line breaks, losing no text', () => {
    const line = 'GET /index.html 200 日志 ok';
    const text = `${line}\n`.repeat(40_000); // ~1 MB, no blank line
    const blocks: ParsedBlock[] = [];
    parseTextStream(cut(new TextEncoder().encode(text), 65536), (b) => blocks.push(b));
    assert.ok(blocks.length > 1);
    for (const b of blocks) assert.ok(b.text.length <= 256 * 1024);
    assert.equal(blocks.map((b) => b.text).join(' '), text.trim().replace(/\n/g, ' '));
  });

  it('fails invalid UTF-8 and files without text permanently, with no character limit', async () => {
    assert.throws(() => parseTextStream([new Uint8Array([0x61, 0xff])], () => {}), (e: unknown) => isPermanent(e) && /UTF-8/.test(String(e)));
    assert.throws(() => parseTextStream([new TextEncoder().encode(' \n\n \n')], () => {}), (e: unknown) => isPermanent(e) && /no text/.test(String(e)));
    await assert.rejects(parseCsvStream([], () => {}), (e: unknown) => isPermanent(e) && /no text/.test(String(e)));
    let chars = 0;
    parseTextStream(cut(new TextEncoder().encode('x'.repeat(3_000_000)), 1 << 20), (b) => (chars += b.text.length));
    assert.equal(chars, 3_000_000, 'more characters than RAGD_MAX_TEXT_CHARS is no failure for a streamed format');
  });
});

describe('stage files', () => {
  it('are written one record a line and read back, in pieces', async () => {
    const path = join(await tempDir(), 'chunks.json');
    const records = Array.from({ length: 5000 }, (_, i) => ({ ordinal: i, text: `块 ${i}\n${'x'.repeat(i % 700)}`, tokenCount: 1, headingPath: [], page: null }));
    await writeAtomically(path, (out) => records.forEach((r) => out.writeRecord(r)));
    assert.deepEqual([...readChunks(path)], records);
  });

  it('read the whole-file format of earlier versions', async () => {
    const dir = await tempDir();
    const blocks: ParsedBlock[] = [{ kind: 'paragraph', text: 'old', headingPath: ['H'] }];
    await writeFile(join(dir, 'parsed.json'), JSON.stringify({ blocks, pages: 1 }));
    await writeFile(join(dir, 'chunks.json'), JSON.stringify([{ ordinal: 0, text: 'old', tokenCount: 1, headingPath: [], page: null }]));
    assert.deepEqual([...readBlocks(join(dir, 'parsed.json'))], blocks);
    assert.deepEqual(readParsedDocument(join(dir, 'parsed.json')), { blocks, pages: 1 });
    assert.equal([...readChunks(join(dir, 'chunks.json'))][0]!.text, 'old');
  });

  it('leave nothing behind when writing fails', async () => {
    const dir = await tempDir();
    await assert.rejects(writeAtomically(join(dir, 'x.json'), () => { throw new Error('boom'); }), /boom/);
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual(await readdir(dir), []);
  });
});
