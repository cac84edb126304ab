/**
 * A lane's concurrency limit that finds the provider's capacity by itself (AIMD, as TCP does):
 *
 * - additive increase: while the lane is using its whole limit and latency holds, +1 per limit's
 *   worth of successes (about +1 per round trip);
 * - multiplicative decrease: ×`overloadRatio` when the provider answers 429/503 (it said it is
 *   full), ×`latencyRatio` when the short-term latency rises above `latencyTolerance` × the
 *   long-term latency (it queues internally, as a local Ollama or vLLM does);
 * - at most one decrease per round trip: a signal from an attempt that started before the last
 *   decrease says nothing about the new limit, so a burst of 429s cuts once, not fifty times.
 *
 * It starts at `max` (a cloud API takes hundreds of calls at once; starting low would serialise
 * the first burst of questions) and stays within [min, max]. Latency is the time to the first
 * byte where the attempt reports one (a streamed answer's length is not congestion).
 */
export interface AdaptiveLimitOptions {
  min: number;
  max: number;
  /** Decrease factor on 429/503 (default 0.7). */
  overloadRatio?: number;
  /** Decrease factor when latency rises (default 0.9). */
  latencyRatio?: number;
  /** Short-term over long-term latency beyond which latency counts as rising (default 2). */
  latencyTolerance?: number;
  /**
   * ...and by at least this much (default 250 ms). A call of a few milliseconds doubles with any
   * pause of this process's own event loop; that is not the provider queueing.
   */
  minLatencyRiseMs?: number;
}

export class AdaptiveLimit {
  private value: number;
  private lastCutAt = -Infinity;
  private shortMs = 0;
  private longMs = 0;
  private samples = 0;
  private readonly overloadRatio: number;
  private readonly latencyRatio: number;
  private readonly tolerance: number;
  private readonly minRiseMs: number;

  constructor(private readonly opts: AdaptiveLimitOptions) {
    if (!(opts.min >= 1) || !(opts.max >= opts.min)) throw new Error(`adaptive limit: need 1 <= min <= max, got ${opts.min}..${opts.max}`);
    this.value = opts.max;
    this.overloadRatio = opts.overloadRatio ?? 0.7;
    this.latencyRatio = opts.latencyRatio ?? 0.9;
    this.tolerance = opts.latencyTolerance ?? 2;
    this.minRiseMs = opts.minLatencyRiseMs ?? 250;
  }

  /** The current limit, an integer within [min, max]. */
  get limit(): number {
    return Math.floor(this.value);
  }

  /**
   * An attempt that started at `startedAt` (performance.now()) succeeded; `latencyMs` is its time to
   * first byte or its duration. `saturated`: the lane had calls waiting or every slot taken.
   * Returns true when the limit grew (the caller may start more calls).
   */
  onSuccess(startedAt: number, latencyMs: number, saturated: boolean): boolean {
    this.samples++;
    // Short ≈ the last 5 samples, long ≈ the last 50; both start at the first sample.
    this.shortMs = this.samples === 1 ? latencyMs : this.shortMs + 0.2 * (latencyMs - this.shortMs);
    this.longMs = this.samples === 1 ? latencyMs : this.longMs + 0.02 * (latencyMs - this.longMs);
    if (this.samples >= 10 && this.shortMs > this.tolerance * this.longMs && this.shortMs - this.longMs >= this.minRiseMs) {
      this.decrease(startedAt, this.latencyRatio);
      return false;
    }
    if (!saturated || this.value >= this.opts.max) return false;
    const before = this.limit;
    this.value = Math.min(this.opts.max, this.value + 1 / this.value);
    return this.limit > before;
  }

  /** The provider answered 429 or 503 to an attempt that started at `startedAt`. */
  onOverload(startedAt: number): void {
    this.decrease(startedAt, this.overloadRatio);
  }

  private decrease(startedAt: number, ratio: number): void {
    if (startedAt < this.lastCutAt) return;
    this.lastCutAt = performance.now();
    this.value = Math.max(this.opts.min, this.value * ratio);
  }
}
