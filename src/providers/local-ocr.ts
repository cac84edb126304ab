import type { OcrEngine, OcrImage, OcrResult, Priority } from '../ports/models.js';
import type { LocalEngineName } from '../ocr/recognizer.js';
import type { OcrLine } from '../ocr/recognizer.js';
import type { OcrPool } from '../workers/ocr-pool.js';

const MODEL_LOAD_TIMEOUT_MS = 10 * 60_000;

/** A local engine (PaddleOCR or Tesseract) in the OCR worker pool: nothing leaves the machine. */
export class LocalOcrEngine implements OcrEngine {
  constructor(
    readonly id: LocalEngineName,
    private readonly pool: OcrPool,
  ) {}

  private warmed: Promise<void> | null = null;

  async recognize(image: OcrImage, opts: { priority: Priority; signal?: AbortSignal }): Promise<OcrResult> {
    // Loading the models takes seconds (minutes on a starved CPU): not a page's time, so it runs
    // first under its own, longer limit. A thread recycled after idling loads them again.
    this.warmed ??= this.pool.run<null>('warm', { engine: this.id }, undefined, MODEL_LOAD_TIMEOUT_MS).then(
      () => undefined,
      (err: unknown) => {
        this.warmed = null;
        throw err;
      },
    );
    await this.warmed;
    const lines = await this.pool.run<OcrLine[]>('recognize', { imagePath: image.path, engine: this.id }, opts.signal);
    return { lines, engine: this.id };
  }
}
