import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAI, messageImages, type FakeOpenAI } from '../support/fake-openai.js';
import { scanImage, scanPdf } from '../support/scans.js';
import { call, postFiles, requestJson, startTestServer, waitSettled, type TestServer } from '../support/server.js';
import { query } from './query-support.js';

/**
 * OCR end to end, on scans the test makes itself: images and image-only PDF pages become
 * searchable, in English and Chinese, and are cited with their page and the engine's confidence.
 * Scans are small (one short page each): the local engine is CPU-heavy.
 */

const EN = ['The warranty covers the solar inverter for twelve years.'];
const ZH = ['本合同自双方签字之日起生效。', '发票金额为人民币一万二千元整。'];

interface OcrDoc {
  id: string;
  status: string;
  error: string | null;
  chunks: number;
  ocr: { mode: string; engine?: string; pages?: number[] };
}

async function upload(url: string, name: string, bytes: Uint8Array, q = ''): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([bytes]), name);
  const res = await call(`${url}/v1/kbs/default/documents${q}`, { method: 'POST', body: form });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.documents[0].id as string;
}

async function settled(url: string, ids: string[]): Promise<OcrDoc[]> {
  await waitSettled(url, 'default', ids, { timeoutMs: 240_000 });
  return Promise.all(ids.map((id) => requestJson<OcrDoc>(`${url}/v1/kbs/default/documents/${id}`)));
}

describe('OCR with the local engine', { timeout: 600_000 }, () => {
  let srv: TestServer;
  before(async () => {
    // A generous page limit: CI machines are shared, and OCR runs at the lowest CPU priority.
    srv = await startTestServer({ RAGD_OCR_DPI: '150', RAGD_OCR_MAX_PIXELS: '4000000', RAGD_OCR_PAGE_TIMEOUT_MS: '600000' });
  });
  after(async () => srv?.close());

  test('images and image-only PDF pages are read, found by a query and cited with page and confidence', async () => {
    const ids = [
      await upload(srv.url, 'warranty.png', scanImage(EN)),
      await upload(srv.url, 'contract.jpg', scanImage(ZH, { format: 'jpeg' })),
      // Page 1 has a text layer, page 2 is a scan: only page 2 is OCR'd.
      await upload(srv.url, 'mixed.pdf', await scanPdf([{ text: 'Maintenance schedule for the heat pump, every spring.' }, { scan: ['发票金额为人民币三万元整。'] }])),
      await upload(srv.url, 'scanned.pdf', await scanPdf([{ scan: ['Delivery note for forty pallets of bricks.'] }])),
    ];
    const [png, jpg, pdf, scan] = await settled(srv.url, ids);
    for (const d of [png!, jpg!, pdf!, scan!]) assert.equal(d.status, 'ready', `${d.id}: ${d.error}`);
    assert.deepEqual(scan!.ocr, { mode: 'auto', engine: 'paddle', pages: [1] });
    const bricks = await query(srv.url, 'default', { query: 'pallets of bricks delivery', only_context: true });
    assert.ok(bricks.citations.some((c) => c.document_id === scan!.id && c.page === 1), 'the image-only PDF is found, on page 1');
    assert.deepEqual(png!.ocr, { mode: 'auto', engine: 'paddle', pages: [1] });
    assert.deepEqual(jpg!.ocr.pages, [1]);
    assert.deepEqual(pdf!.ocr, { mode: 'auto', engine: 'paddle', pages: [2] });

    const en = await query(srv.url, 'default', { query: 'solar inverter warranty years', only_context: true });
    const enHit = en.citations.find((c) => c.document_id === png!.id) as { page: number; ocr_confidence?: number; text: string } | undefined;
    assert.ok(enHit, 'the English scan is found');
    assert.match(enHit.text, /solar inverter for twelve years/);
    assert.equal(enHit.page, 1);
    assert.ok(enHit.ocr_confidence! > 0.8 && enHit.ocr_confidence! <= 1, `confidence ${enHit.ocr_confidence}`);

    const zh = await query(srv.url, 'default', { query: '合同生效', only_context: true });
    const zhHit = zh.citations.find((c) => c.document_id === jpg!.id) as { text: string; page: number } | undefined;
    assert.ok(zhHit, 'the Chinese scan is found');
    assert.match(zhHit.text, /本合同自双方签字之日起生效/);

    const scanned = await query(srv.url, 'default', { query: '人民币三万元', only_context: true });
    const pdfHit = scanned.citations.find((c) => c.document_id === pdf!.id) as { text: string; page: number; ocr_confidence?: number } | undefined;
    assert.ok(pdfHit, 'the scanned PDF page is found');
    assert.match(pdfHit.text, /三万元/);
    assert.equal(pdfHit.page, 2);
    assert.ok(pdfHit.ocr_confidence !== undefined);
    const text = await query(srv.url, 'default', { query: 'heat pump maintenance spring', only_context: true });
    const textHit = text.citations.find((c) => c.document_id === pdf!.id) as { page: number; ocr_confidence?: number } | undefined;
    assert.equal(textHit?.page, 1);
    assert.equal(textHit?.ocr_confidence, undefined, 'text-layer chunks carry no OCR confidence');
  });

  test('a corrupt image and an oversized one fail their document with a clear error; ocr=off skips OCR', async () => {
    const png = scanImage(['corrupt']);
    const corrupt = new Uint8Array(png.subarray(0, 200)); // the header, then nothing
    const ids = [
      await upload(srv.url, 'broken.png', corrupt),
      await upload(srv.url, 'poster.png', scanImage(['big'], { width: 3000, px: 400 })), // 3000 × 1520 px > 4 MP
      await upload(srv.url, 'skipped.png', scanImage(['never read']), '?ocr=off'),
    ];
    const [broken, poster, skipped] = await settled(srv.url, ids);
    assert.equal(broken!.status, 'failed');
    assert.match(broken!.error!, /^ocr: corrupt or unreadable image/);
    assert.equal(poster!.status, 'failed');
    assert.match(poster!.error!, /more than the OCR limit of 4000000 \(RAGD_OCR_MAX_PIXELS\)/);
    assert.equal(skipped!.status, 'ready');
    assert.deepEqual(skipped!.ocr, { mode: 'off' });
    assert.equal(skipped!.chunks, 0);
  });

  test('an image named .png whose bytes are not an image is refused at upload (415)', async () => {
    const res = await postFiles(srv.url, 'default', [{ name: 'fake.png', bytes: new TextEncoder().encode('just text') }]);
    assert.equal(res.status, 415);
    assert.equal(res.body.error.code, 'type_mismatch');
  });

  test('a KB created with ocr=force OCRs a page that has a text layer too', async () => {
    const kb = await call(`${srv.url}/v1/kbs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'forced', ocr: 'force' }) });
    assert.equal(kb.status, 201);
    assert.equal(kb.body.ocr, 'force');
    const form = new FormData();
    form.append('file', new Blob([await scanPdf([{ text: 'Quarterly report on the harbour crane.' }])]), 'report.pdf');
    const res = await call(`${srv.url}/v1/kbs/forced/documents`, { method: 'POST', body: form });
    assert.equal(res.status, 202);
    const id = res.body.documents[0].id as string;
    await waitSettled(srv.url, 'forced', [id], { timeoutMs: 240_000 });
    const doc = await requestJson<OcrDoc>(`${srv.url}/v1/kbs/forced/documents/${id}`);
    assert.equal(doc.status, 'ready', doc.error ?? '');
    assert.deepEqual(doc.ocr, { mode: 'force', engine: 'paddle', pages: [1] });
  });
});

describe('OCR with a vision model', { timeout: 600_000 }, () => {
  let fake: FakeOpenAI;
  let srv: TestServer;
  before(async () => {
    fake = await startFakeOpenAI();
    fake.setBehavior({ answer: (messages) => (messageImages(messages).length > 0 ? 'Transcribed by the vision model: 龙门吊维修记录' : 'no image') });
    srv = await startTestServer({
      RAGD_OCR_BASE_URL: fake.url,
      RAGD_OCR_MODEL: 'fake-ocr',
      RAGD_OCR_MAX_RETRIES: '0',
      RAGD_OCR_DPI: '150',
      RAGD_OCR_PAGE_TIMEOUT_MS: '600000',
    });
  });
  after(async () => {
    await srv?.close();
    await fake?.close();
  });

  test('pages go to the vision model as images; when it is down the local engine stands in', async () => {
    const first = await upload(srv.url, 'crane.png', scanImage(EN));
    const [viaVision] = await settled(srv.url, [first]);
    assert.equal(viaVision!.status, 'ready', viaVision!.error ?? '');
    assert.deepEqual(viaVision!.ocr, { mode: 'auto', engine: 'vision:fake-ocr', pages: [1] });
    const body = fake.stats.bodies.find((b) => b.route === 'chat')?.body as { model: string; messages: never[] };
    assert.equal(body.model, 'fake-ocr');
    assert.match(messageImages(body.messages)[0]!, /^data:image\/png;base64,iVBOR/);
    const hit = await query(srv.url, 'default', { query: '龙门吊维修', only_context: true });
    assert.ok(hit.citations.some((c) => c.document_id === first && c.page === 1));

    fake.setBehavior({ down: true });
    const second = await upload(srv.url, 'contract.png', scanImage(ZH));
    const [viaFallback] = await settled(srv.url, [second]);
    assert.equal(viaFallback!.status, 'ready', viaFallback!.error ?? '');
    assert.deepEqual(viaFallback!.ocr, { mode: 'auto', engine: 'paddle', pages: [1] });
    const zh = await query(srv.url, 'default', { query: '发票金额', only_context: true });
    assert.ok(zh.citations.some((c) => c.document_id === second));
  });
});
