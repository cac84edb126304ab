import type { OcrEngine, OcrImage, OcrResult, Priority } from '../ports/models.js';
import type { LocalEngineName } from '../ocr/recognizer.js';
import type { OcrLine } from '../ocr/recognizer.js';
import type { OcrPool } from '../workers/ocr-pool.js';

/** A local engine (PaddleOCR or Tesseract) in the OCR worker pool: nothing leaves the machine. */
export class LocalOcrEngine implements OcrEngine {
  constructor(
    readonly id: LocalEngineName,
    private readonly pool: OcrPool,
  ) {}

  async recognize(image: OcrImage, opts: { priority: Priority; signal?: AbortSignal }): Promise<OcrResult> {
    const lines = await this.pool.run<OcrLine[]>('recognize', { imagePath: image.path, engine: this.id }, opts.signal);
    return { lines, engine: this.id };
  }
}
