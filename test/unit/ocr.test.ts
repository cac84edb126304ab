import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { PermanentError } from '../../src/domain/errors.js';
import type { DocumentOcr, ParsedDocument } from '../../src/domain/types.js';
import { closePdf, renderImage, renderPdfPage } from '../../src/ocr/render.js';
import { sniffType } from '../../src/parsing/sniff.js';
import type { OcrEngine, OcrImage } from '../../src/ports/models.js';
import { needsOcr, runOcrStage } from '../../src/services/pipeline/ocr-stage.js';
import { stageKeys } from '../../src/services/pipeline/stage-files.js';
import { OcrPool } from '../../src/workers/ocr-pool.js';
import { scanImage, scanPdf } from '../support/scans.js';
import { tempDir } from '../support/server.js';

const LIMITS = { dpi: 72, maxPixels: 4_000_000 };

/** A 2×1 24-bit BMP, written by hand: BMP is the one format sharp cannot produce. */
function tinyBmp(): Uint8Array {
  const row = 8; // 2 pixels × 3 bytes, padded to 4
  const buf = Buffer.alloc(54 + row);
  buf.write('BM', 0, 'ascii');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(54, 10);
  buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(2, 18);
  buf.writeInt32LE(1, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(24, 28);
  buf.writeUInt32LE(row, 34);
  return buf;
}

describe('image uploads', () => {
  it('are sniffed by content for each supported format', async () => {
    const png = scanImage(['x']);
    const formats: [string, Uint8Array][] = [
      ['a.png', png],
      ['a.jpg', scanImage(['x'], { format: 'jpeg' })],
      ['a.tiff', await sharp(png).tiff().toBuffer()],
      ['a.webp', await sharp(png).webp().toBuffer()],
      ['a.bmp', tinyBmp()],
    ];
    for (const [name, bytes] of formats) assert.deepEqual(sniffType(name, bytes.subarray(0, 4096)), { ok: true, type: 'image' }, name);
    const wrong = sniffType('a.png', new TextEncoder().encode('%PDF-1.7 not an image'));
    assert.equal(wrong.ok, false);
  });

  it('decode to a PNG page of the same size, whatever the format', async () => {
    const png = scanImage(['x'], { width: 300 });
    const { width, height } = await sharp(png).metadata();
    for (const bytes of [png, await sharp(png).tiff().toBuffer(), await sharp(png).webp().toBuffer(), await sharp(png).jpeg().toBuffer()]) {
      const page = await renderImage(bytes, LIMITS);
      assert.deepEqual([page.width, page.height], [width, height]);
      assert.deepEqual([...page.png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
    }
    const bmp = await renderImage(tinyBmp(), LIMITS);
    assert.deepEqual([bmp.width, bmp.height], [2, 1]);
  });

  it('fail with a clear, permanent error when corrupt or too large (before decoding)', async () => {
    const png = scanImage(['x']);
    await assert.rejects(renderImage(png.subarray(0, 100), LIMITS), (e: unknown) => e instanceof PermanentError && e.code === 'corrupt_image');
    await assert.rejects(renderImage(png, { dpi: 72, maxPixels: 1000 }), (e: unknown) => e instanceof PermanentError && e.code === 'image_too_large');
  });

  it('PDF pages render at the configured DPI', async () => {
    const pdf = await scanPdf([{ text: 'hello' }]); // 420 × 200 pt
    let reads = 0;
    const load = () => (reads++, pdf);
    const page = await renderPdfPage('report.pdf', load, 1, { dpi: 144, maxPixels: 4_000_000 });
    assert.deepEqual([page.width, page.height], [840, 400]);
    await assert.rejects(renderPdfPage('report.pdf', load, 1, { dpi: 600, maxPixels: 1_000_000 }), /more than the OCR limit/);
    assert.equal(reads, 1, 'the open document is reused for the next page');
    await closePdf();
  });

  it('needsOcr: images and scanned pages in auto, every page in force, nothing when off', () => {
    assert.equal(needsOcr('auto', 'image', { pages: 1, scanned: 1 }), true);
    assert.equal(needsOcr('auto', 'pdf', { pages: 3, scanned: 0 }), false);
    assert.equal(needsOcr('force', 'pdf', { pages: 3, scanned: 0 }), true);
    assert.equal(needsOcr('off', 'image', { pages: 1, scanned: 1 }), false);
    assert.equal(needsOcr('force', 'text', { pages: null, scanned: 0 }), false);
  });
});

describe('the ocr stage', () => {
  let dir: string;
  let pool: OcrPool;
  before(async () => {
    dir = await tempDir('ragd-ocr-stage-');
    pool = new OcrPool({ threads: 1, pageTimeoutMs: 60_000 });
  });
  after(async () => {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is resumable per page: a rerun after a crash on page 2 of 3 reads only pages 2 and 3', async () => {
    const scope = { tenantId: 't', kbId: 'kb' };
    const blobs = { pathOf: (key: string) => join(dir, key) } as never;
    const keys = stageKeys(scope, 'doc1');
    const source = join(dir, 'source.pdf');
    await writeFile(source, await scanPdf([{ scan: ['one'] }, { scan: ['two'] }, { scan: ['three'] }]));
    await mkdir(join(dir, keys.parsed, '..'), { recursive: true });
    await writeFile(join(dir, keys.parsed), JSON.stringify({ blocks: [], pages: 3, scannedPages: [1, 2, 3] } satisfies ParsedDocument));

    const read: number[] = [];
    const engine = (failOn: number | null): OcrEngine => ({
      id: 'fake',
      async recognize(image: OcrImage) {
        const page = Number(/page-(\d+)\.png$/.exec(image.path)![1]);
        assert.ok(existsSync(image.path) && image.width > 0, 'the page was rendered to a PNG first');
        if (page === failOn) throw new Error('worker died'); // transient: the stage is retried
        read.push(page);
        return { lines: [{ text: `text of page ${page}`, confidence: 0.5 + page / 10 }], engine: 'fake' };
      },
    });
    const recorded: DocumentOcr[] = [];
    const store = { recordOcr: async (_s: unknown, _id: string, ocr: DocumentOcr) => void recorded.push(ocr) } as never;
    const progress: [number, number][] = [];
    const run = (failOn: number | null) =>
      runOcrStage({
        ocr: { engine: engine(failOn), pool, dpi: 72, maxPages: 10, maxPixels: 4_000_000 },
        store, blobs, scope, documentId: 'doc1', type: 'pdf', sourcePath: source, mode: 'auto',
        signal: new AbortController().signal,
        progress: async (done, total) => void progress.push([done, total]),
      });

    await assert.rejects(run(2), /worker died/);
    assert.deepEqual(read, [1]);
    assert.deepEqual(progress, [[1, 3]]);
    await run(null);
    assert.deepEqual(read, [1, 2, 3], 'page 1 was not read again');
    assert.deepEqual(progress.slice(1), [[1, 3], [2, 3], [3, 3]]);
    assert.deepEqual(recorded, [{ mode: 'auto', engine: 'fake', pages: [1, 2, 3] }]);
    const merged = JSON.parse(await readFile(join(dir, keys.ocred), 'utf8')) as ParsedDocument;
    assert.deepEqual(merged.blocks.map((b) => [b.page, b.text]), [[1, 'text of page 1'], [2, 'text of page 2'], [3, 'text of page 3']]);
    assert.deepEqual(merged.ocr, { engine: 'fake', confidence: { 1: 0.6, 2: 0.7, 3: 0.8 } });
  });

  it('refuses a document with more pages to OCR than the limit', async () => {
    const scope = { tenantId: 't', kbId: 'kb' };
    const keys = stageKeys(scope, 'doc2');
    await mkdir(join(dir, keys.parsed, '..'), { recursive: true });
    await writeFile(join(dir, keys.parsed), JSON.stringify({ blocks: [], pages: 5, scannedPages: [1, 2, 3, 4, 5] }));
    await assert.rejects(
      runOcrStage({
        ocr: { engine: {} as never, pool, dpi: 72, maxPages: 4, maxPixels: 1 },
        store: {} as never, blobs: { pathOf: (k: string) => join(dir, k) } as never, scope, documentId: 'doc2', type: 'pdf',
        sourcePath: '', mode: 'auto', signal: new AbortController().signal, progress: async () => {},
      }),
      (e: unknown) => e instanceof PermanentError && /5 pages need OCR, more than the limit of 4/.test(e.message),
    );
  });
});
