import type { Logger } from 'pino';
import { isAbortError } from './lane.js';
import { ProviderRequestError, ProviderTimeoutError, ProviderUnavailableError, type OcrEngine, type OcrImage, type OcrResult, type Priority } from '../ports/models.js';

/**
 * The vision model first; when it is down (breaker open, retries spent, timed out, or refusing
 * the request) the local engine reads the page instead, so a scan never waits on an outage. The
 * result names the engine that really read the page.
 */
export class FallbackOcrEngine implements OcrEngine {
  readonly id: string;

  constructor(
    private readonly primary: OcrEngine,
    private readonly fallback: OcrEngine,
    private readonly log: Logger,
  ) {
    this.id = `${primary.id}|${fallback.id}`;
  }

  async recognize(image: OcrImage, opts: { priority: Priority; signal?: AbortSignal }): Promise<OcrResult> {
    try {
      return await this.primary.recognize(image, opts);
    } catch (err) {
      if (opts.signal?.aborted || isAbortError(err)) throw err;
      if (!(err instanceof ProviderUnavailableError || err instanceof ProviderTimeoutError || err instanceof ProviderRequestError)) throw err;
      this.log.warn({ err: (err as Error).message, engine: this.primary.id, fallback: this.fallback.id }, 'OCR engine unavailable; using the fallback');
      return this.fallback.recognize(image, opts);
    }
  }
}
