import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { OcrEngine } from '../ports/models.js';
import { FallbackOcrEngine } from '../providers/fallback-ocr.js';
import type { SharedProviderCapFactory } from '../ports/limits.js';
import { ProviderLane } from '../providers/lane.js';
import { sharedCapOption } from '../providers/shared-slot.js';
import { LocalOcrEngine } from '../providers/local-ocr.js';
import { VisionOcrEngine } from '../providers/vision-ocr.js';
import type { OcrDeps } from '../services/pipeline/ocr-stage.js';
import { OcrPool } from '../workers/ocr-pool.js';

/**
 * The OCR engine chosen by RAGD_OCR_ENGINE: a local one in the OCR pool (PaddleOCR by default,
 * see the README for why), or a vision model behind its own `ocr` provider lane, falling back to
 * a local engine when that is down (RAGD_OCR_FALLBACK).
 */
export function createOcr(config: Config, log: Logger, caps?: SharedProviderCapFactory): { deps: OcrDeps; pool: OcrPool; lane: ProviderLane | null } {
  const c = config.ocr;
  const pool = new OcrPool({ threads: c.threads, pageTimeoutMs: c.pageTimeoutMs });
  let engine: OcrEngine;
  let lane: ProviderLane | null = null;
  if (c.engine === 'vision') {
    const v = c.vision;
    lane = new ProviderLane({
      ...sharedCapOption(caps, 'ocr', { baseUrl: v.baseUrl, model: v.model, apiKey: v.apiKey, concurrency: v.concurrency, requestsPerMinute: v.requestsPerMinute }),
      name: 'ocr',
      concurrency: v.concurrency,
      requestsPerMinute: v.requestsPerMinute,
      timeoutMs: v.timeoutMs,
      maxRetries: v.maxRetries,
      backoffBaseMs: 500,
      breaker: { errorThresholdPercentage: 50, volumeThreshold: 5, resetTimeoutMs: 30_000 },
    });
    const vision = new VisionOcrEngine({ baseURL: v.baseUrl!, apiKey: v.apiKey, model: v.model, lane });
    engine = c.fallback ? new FallbackOcrEngine(vision, new LocalOcrEngine(c.fallback, pool), log) : vision;
  } else {
    engine = new LocalOcrEngine(c.engine, pool);
  }
  return { deps: { engine, pool, dpi: c.dpi, maxPages: c.maxPages, maxPixels: c.maxPixels }, pool, lane };
}
