/**
 * The local OCR engines, as they run inside an OCR worker thread. Each reads a PNG and returns
 * its lines, top to bottom, with the engine's confidence (0-1). Models and language data come
 * from npm packages on disk: nothing is downloaded, at install or at run time.
 */
import { createRequire } from 'node:module';
import { mkdirSync, symlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export type LocalEngineName = 'paddle' | 'tesseract';
export const LOCAL_ENGINES: readonly LocalEngineName[] = ['paddle', 'tesseract'];

export interface OcrLine {
  text: string;
  confidence: number;
}

export interface Recognizer {
  recognize(png: Uint8Array): Promise<OcrLine[]>;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);

/**
 * PaddleOCR PP-OCRv4 (detection + Chinese/English recognition) on ONNX Runtime's CPU build, via
 * @gutenye/ocr-node. One intra-op thread: the pool's size is the OCR parallelism, and ONNX
 * Runtime's own threads inherit this worker's low priority.
 */
async function paddle(): Promise<Recognizer> {
  const { default: Ocr } = await import('@gutenye/ocr-node');
  const ocr = await Ocr.create({ onnxOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 } } as never);
  return {
    async recognize(png) {
      const lines = (await ocr.detect(Buffer.from(png) as never)) as { text: string; mean: number }[];
      return lines.filter((l) => l.text.trim().length > 0).map((l) => ({ text: l.text.trim(), confidence: l.mean }));
    },
    async close() {},
  };
}

/** Tesseract's LSTM models for English and Simplified Chinese, from the @tesseract.js-data packages. */
function tessdataDir(): string {
  // tesseract.js reads every language from one directory; the packages keep one each.
  const dir = join(tmpdir(), `ragd-tessdata-${process.getuid?.() ?? 0}`);
  mkdirSync(dir, { recursive: true });
  for (const lang of ['eng', 'chi_sim']) {
    const link = join(dir, `${lang}.traineddata.gz`);
    if (!existsSync(link)) {
      const target = join(dirname(require.resolve(`@tesseract.js-data/${lang}/package.json`)), '4.0.0_best_int', `${lang}.traineddata.gz`);
      try {
        symlinkSync(target, link);
      } catch (err) {
        if ((err as { code?: string }).code !== 'EEXIST') throw err;
      }
    }
  }
  return dir;
}

const CJK = '\\p{Script=Han}\\u3000-\\u303f\\uff00-\\uffef';
/** Tesseract puts a space between every two Chinese characters; Chinese has none. */
const CJK_SPACE = new RegExp(`(?<=[${CJK}])\\s+(?=[${CJK}])`, 'gu');

async function tesseract(): Promise<Recognizer> {
  const { createWorker } = await import('tesseract.js');
  // langPath is a local directory and the cache is off: tesseract.js never reaches for its CDN.
  const worker = await createWorker(['eng', 'chi_sim'], 1, { langPath: tessdataDir(), cacheMethod: 'none', gzip: true });
  return {
    async recognize(png) {
      const { data } = await worker.recognize(Buffer.from(png), {}, { blocks: true });
      const lines: OcrLine[] = [];
      for (const block of data.blocks ?? []) {
        for (const para of block.paragraphs) {
          for (const line of para.lines) {
            const text = line.text.replace(CJK_SPACE, '').trim();
            if (text) lines.push({ text, confidence: line.confidence / 100 });
          }
        }
      }
      return lines;
    },
    close: () => worker.terminate().then(() => undefined),
  };
}

export function createRecognizer(name: LocalEngineName): Promise<Recognizer> {
  return name === 'tesseract' ? tesseract() : paddle();
}
