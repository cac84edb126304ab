/**
 * `npm run bench:ocr`: what OCR costs, and whether questions notice it.
 *
 *  (a) Each local engine (PaddleOCR PP-OCRv4 on ONNX Runtime, Tesseract via tesseract.js) on the
 *      same 20-page image-only PDF (A4 scanned at 150 dpi; pages alternate English and Simplified
 *      Chinese): pages per second (render + read, one OCR thread at the lowest priority, as ragd
 *      runs it) and character error rate against the known text, per language.
 *  (b) ragd (`ragd serve`, default engine) OCRs that scan while questions arrive at a fixed rate
 *      (BENCH_QPS, default 50, only_context): query p99 during the OCR ÷ p99 idle, and the server's
 *      pages per second from upload to ready.
 *
 * Env: BENCH_PAGES (default 20), BENCH_ENGINES (default paddle,tesseract), BENCH_PARTS (default a,b).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PDFDocument } from 'pdf-lib';
import { spawnServer, tempDir } from '../test/support/server.js';
import { scanImage } from '../test/support/scans.js';
import { OcrPool } from '../src/workers/ocr-pool.js';
import type { OcrLine } from '../src/ocr/recognizer.js';
import { seedQueryKb, queryLoad } from './bulk-ingest.js';
import { Client } from './load.js';
import { Questions } from './questions.js';

const PAGES = Number(process.env.BENCH_PAGES ?? 20);
const ENGINES = (process.env.BENCH_ENGINES ?? 'paddle,tesseract').split(',') as ('paddle' | 'tesseract')[];
const PARTS = new Set((process.env.BENCH_PARTS ?? 'a,b').split(','));
const QPS = Number(process.env.BENCH_QPS ?? 50);

const EN = [
  'The warranty covers the solar inverter for twelve years from the date of purchase.',
  'Invoice number 4711 is payable within thirty days without deduction.',
  'Keep this manual near the machine and read it before the first start.',
  'The pump must be serviced every spring by a qualified technician.',
  'Delivery note: forty pallets of bricks, signed by the site manager.',
  'Minutes of the board meeting held on the third of March.',
];
const ZH = [
  '本合同自双方签字之日起生效，有效期为三年。',
  '发票金额为人民币一万二千元整，请于三十日内付款。',
  '请将说明书放在机器旁边，首次启动前务必阅读。',
  '水泵每年春季必须由合格的技术人员进行维护。',
  '送货单：四十托盘砖块，由工地经理签收。',
  '董事会会议纪要，会议于三月三日召开。',
];

function pageLines(n: number): { lang: 'en' | 'zh'; lines: string[] } {
  const src = n % 2 === 1 ? EN : ZH;
  const lines = Array.from({ length: 12 }, (_, i) => src[(i + n) % src.length]!);
  return { lang: n % 2 === 1 ? 'en' : 'zh', lines };
}

/** A4 at 150 dpi, 28 px text: an office scan. */
async function makeScan(dir: string): Promise<{ pdfPath: string; truth: { lang: 'en' | 'zh'; text: string }[]; bytes: Uint8Array }> {
  const pdf = await PDFDocument.create();
  const truth: { lang: 'en' | 'zh'; text: string }[] = [];
  for (let n = 1; n <= PAGES; n++) {
    const { lang, lines } = pageLines(n);
    const png = await pdf.embedPng(scanImage(lines, { width: 1240, px: 28 }));
    const page = pdf.addPage([595, 842]);
    page.drawImage(png, { x: 0, y: 842 - (595 * png.height) / png.width, width: 595, height: (595 * png.height) / png.width });
    truth.push({ lang, text: lines.join('\n') });
  }
  const bytes = await pdf.save();
  const pdfPath = join(dir, 'scan.pdf');
  await writeFile(pdfPath, bytes);
  return { pdfPath, truth, bytes };
}

/** Levenshtein distance over code points, whitespace ignored (Chinese has none; engines differ on it). */
function cer(truth: string, read: string): number {
  const a = [...truth.replace(/\s+/g, '')];
  const b = [...read.replace(/\s+/g, '')];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]! / Math.max(1, a.length);
}

async function partA(dir: string, scan: Awaited<ReturnType<typeof makeScan>>): Promise<void> {
  console.log(`(a) local engines on a ${PAGES}-page scan (A4, 150 dpi, 1 OCR thread at nice 19)`);
  for (const engine of ENGINES) {
    const pool = new OcrPool({ threads: 1, pageTimeoutMs: 300_000 });
    try {
      const img = join(dir, `${engine}-page.png`);
      let t = performance.now();
      await pool.run('renderPage', { sourcePath: scan.pdfPath, type: 'pdf', page: 1, outPath: img, limits: { dpi: 150, maxPixels: 40_000_000 } });
      await pool.run('recognize', { imagePath: img, engine });
      const warm = performance.now() - t;
      const errors: Record<'en' | 'zh', number[]> = { en: [], zh: [] };
      t = performance.now();
      for (let n = 1; n <= PAGES; n++) {
        await pool.run('renderPage', { sourcePath: scan.pdfPath, type: 'pdf', page: n, outPath: img, limits: { dpi: 150, maxPixels: 40_000_000 } });
        const lines = await pool.run<OcrLine[]>('recognize', { imagePath: img, engine });
        const { lang, text } = scan.truth[n - 1]!;
        errors[lang].push(cer(text, lines.map((l) => l.text).join('\n')));
      }
      const secs = (performance.now() - t) / 1000;
      const mean = (v: number[]) => (v.reduce((x, y) => x + y, 0) / v.length) * 100;
      console.log(
        `  ${engine.padEnd(9)}  ${(PAGES / secs).toFixed(2)} pages/s (${(secs / PAGES).toFixed(2)} s/page; first page with model load ${(warm / 1000).toFixed(1)} s)` +
          `  ·  character error rate: English ${mean(errors.en).toFixed(1)} %, Chinese ${mean(errors.zh).toFixed(1)} %`,
      );
    } finally {
      await pool.close();
    }
  }
}

async function partB(scan: Awaited<ReturnType<typeof makeScan>>): Promise<void> {
  console.log(`(b) query p99 at ${QPS} questions/s (only_context) while ragd OCRs the ${PAGES}-page scan`);
  const server = await spawnServer({ RAGD_LOG_LEVEL: 'warn', RAGD_OCR_DPI: '150' }, { compiled: true, readyTimeoutMs: 60_000 });
  const client = new Client(server.url, 256);
  try {
    const questions = new Questions();
    await seedQueryKb(client, 'bench', questions);
    const load = queryLoad(client, questions, 'bench', QPS);
    await load(3000); // warm-up
    const idle = await load(15_000);
    await client.post('/v1/kbs', { id: 'scans' });
    const form = new FormData();
    form.append('file', new Blob([scan.bytes]), 'scan.pdf');
    const started = performance.now();
    const res = await fetch(`${server.url}/v1/kbs/scans/documents`, { method: 'POST', body: form });
    const id = ((await res.json()) as { documents: { id: string }[] }).documents[0]!.id;
    let status = 'queued';
    let error: string | null = null;
    let readyAt = 0;
    const poll = setInterval(async () => {
      try {
        const doc = (await (await fetch(`${server.url}/v1/kbs/scans/documents/${id}`)).json()) as { status: string; error: string | null };
        status = doc.status;
        error = doc.error;
        if ((status === 'ready' || status === 'failed') && readyAt === 0) readyAt = performance.now();
      } catch {
        // A dropped poll is retried by the next tick.
      }
    }, 250);
    const during = await load(() => status === 'ready' || status === 'failed' || performance.now() - started > 900_000);
    clearInterval(poll);
    const secs = ((readyAt || performance.now()) - started) / 1000;
    console.log(`  idle:        p50 ${idle.p50.toFixed(1)} ms  ·  p99 ${idle.p99.toFixed(1)} ms  (${idle.n} queries, ${idle.errors} errors)`);
    console.log(`  during OCR:  p50 ${during.p50.toFixed(1)} ms  ·  p99 ${during.p99.toFixed(1)} ms  (${during.n} queries, ${during.errors} errors)`);
    console.log(`  p99 during OCR ÷ idle: ${(during.p99 / idle.p99).toFixed(2)}`);
    console.log(`  the scan: ${status}${error ? ` (${error})` : ''} after ${secs.toFixed(1)} s = ${(PAGES / secs).toFixed(2)} pages/s upload → ready (default engine, model load included)`);
  } finally {
    await server.stop();
    await server.cleanup();
  }
}

async function main(): Promise<void> {
  const dir = await tempDir('ragd-bench-ocr-');
  try {
    await mkdir(dir, { recursive: true });
    const scan = await makeScan(dir);
    if (PARTS.has('a')) await partA(dir, scan);
    if (PARTS.has('b')) await partB(scan);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
