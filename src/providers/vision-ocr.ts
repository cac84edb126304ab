import { readFile } from 'node:fs/promises';
import OpenAI from 'openai';
import type { OcrEngine, OcrImage, OcrResult, Priority } from '../ports/models.js';
import type { ProviderLane } from './lane.js';

/**
 * OCR by a vision model behind any OpenAI-compatible /chat/completions endpoint that accepts
 * images (DeepSeek-OCR, Qwen-VL or GPT-4o class models on vLLM, Ollama or a cloud API). The page
 * goes as a PNG data URL; the lane owns limits, retries, the breaker and bulk priority. Vision
 * models report no confidence, so the lines carry none.
 */
export interface VisionOcrOptions {
  baseURL: string;
  apiKey?: string;
  model: string;
  lane: ProviderLane;
  /** A preconfigured client (tests); it must have maxRetries 0. */
  client?: OpenAI;
}

export const VISION_OCR_PROMPT =
  'Transcribe all text in this scanned page exactly as written, in reading order, one line per line of text. ' +
  'Keep the original language; do not translate, summarise or describe the image. Output only the text.';

export class VisionOcrEngine implements OcrEngine {
  readonly id: string;
  private readonly client: OpenAI;

  constructor(private readonly opts: VisionOcrOptions) {
    this.id = `vision:${opts.model}`;
    this.client = opts.client ?? new OpenAI({ baseURL: opts.baseURL, apiKey: opts.apiKey || 'unused', maxRetries: 0 });
  }

  async recognize(image: OcrImage, opts: { priority: Priority; signal?: AbortSignal }): Promise<OcrResult> {
    const url = `data:image/png;base64,${(await readFile(image.path)).toString('base64')}`;
    const text = await this.opts.lane.run(
      async (signal) => {
        const res = await this.client.chat.completions.create(
          {
            model: this.opts.model,
            temperature: 0,
            messages: [
              {
                role: 'user',
                content: [
                  { type: 'text', text: VISION_OCR_PROMPT },
                  { type: 'image_url', image_url: { url } },
                ],
              },
            ],
          },
          { signal, maxRetries: 0 },
        );
        return res.choices[0]?.message.content ?? '';
      },
      { priority: opts.priority, ...(opts.signal ? { signal: opts.signal } : {}) },
    );
    const lines = text
      .replace(/^```[a-z]*\n?|```$/g, '')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => ({ text: l, confidence: null }));
    return { lines, engine: this.id };
  }
}
