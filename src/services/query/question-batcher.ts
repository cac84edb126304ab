import type { Embedder } from '../../ports/models.js';

export interface QuestionBatcherOptions {
  /** Embedding calls for questions on the wire at once, per embedder, before questions wait to share one. */
  maxInFlight: number;
  /** Questions in one embedding call at most. */
  maxBatch: number;
}

/** Four calls on the wire before questions share one; 64 questions a call at most. */
export const DEFAULT_QUESTION_BATCHING: QuestionBatcherOptions = { maxInFlight: 4, maxBatch: 64 };

interface Waiting {
  text: string;
  requestId: string | undefined;
  resolve: (v: Float32Array) => void;
  reject: (err: unknown) => void;
}

interface EmbedderLine {
  inFlight: number;
  waiting: Waiting[];
}

/**
 * Embeds questions one call each while few are on the wire, and lets the rest share calls when
 * many arrive at once ("natural" batching: no timer, so a lone question is never held back).
 * Under a burst of 100 questions the provider sees a handful of requests instead of 100: fewer
 * calls against its rate limit, and far less CPU here (building and parsing an HTTP exchange
 * through the SDK costs more than the question's whole search).
 *
 * A shared call goes through the embedder's lane like any other (caps, retries, breaker,
 * interactive ahead of bulk) and is not tied to one asker's abort signal; an asker who leaves
 * simply stops waiting (EmbeddingCache races its own signal).
 */
export class QuestionBatcher {
  private readonly lines = new Map<string, EmbedderLine>();

  constructor(private readonly opts: QuestionBatcherOptions) {}

  embed(embedder: Embedder, text: string, requestId?: string): Promise<Float32Array> {
    let line = this.lines.get(embedder.id);
    if (!line) {
      line = { inFlight: 0, waiting: [] };
      this.lines.set(embedder.id, line);
    }
    const queued = new Promise<Float32Array>((resolve, reject) => line.waiting.push({ text, requestId, resolve, reject }));
    this.send(embedder, line);
    return queued;
  }

  private send(embedder: Embedder, line: EmbedderLine): void {
    while (line.inFlight < this.opts.maxInFlight && line.waiting.length > 0) {
      const batch = line.waiting.splice(0, this.opts.maxBatch);
      line.inFlight++;
      // A shared call's log lines name the first asker's request.
      const requestId = batch.find((w) => w.requestId !== undefined)?.requestId;
      this.call(embedder, batch, requestId)
        .catch(async (err: unknown) => {
          // One question can sink a shared call (the provider refuses its length, say): then each
          // is asked alone, so it fails only its own asker. A provider that is down fails them
          // all again, fast once its lane's breaker is open.
          if (batch.length === 1) return batch[0]!.reject(err);
          await Promise.all(batch.map((w) => this.call(embedder, [w], w.requestId).catch(w.reject)));
        })
        .finally(() => {
          line.inFlight--;
          if (line.inFlight === 0 && line.waiting.length === 0) this.lines.delete(embedder.id);
          else this.send(embedder, line);
        });
    }
  }

  /** One embedding call for `batch`; answers each asker, or rejects (without answering) when the call fails. */
  private async call(embedder: Embedder, batch: Waiting[], requestId: string | undefined): Promise<void> {
    const vectors = await embedder.embed(
      batch.map((w) => w.text),
      { priority: 'interactive', ...(requestId ? { requestId } : {}) },
    );
    batch.forEach((w, i) => {
      const v = vectors[i];
      if (v) w.resolve(v);
      else w.reject(new Error(`embedder ${embedder.id} returned no vector for a question`));
    });
  }
}
