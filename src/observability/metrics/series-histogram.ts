import type { Metric, Registry } from 'prom-client';

/**
 * A histogram for the families observed on every request (HTTP durations, query phases), whose
 * series is found from its label values by one Map lookup. prom-client's Histogram.observe
 * wraps, validates and hashes a labels object on each call; at two observations per cached
 * query that was several percent of its CPU.
 *
 * The registry formats it exactly as a prom-client Histogram with the same buckets (its values
 * have the same shape: `le` first, then the series labels), so scrapes cannot tell them apart.
 */
export class SeriesHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    private readonly buckets: readonly number[],
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of these label values, in `labelNames` order; made on first use, like prom-client's. */
  seriesOf(...values: string[]): HistogramSeries {
    // A NUL never occurs in a route template, method, status or phase: one key per value tuple.
    const key = values.join('\0');
    let series = this.series.get(key);
    if (!series) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i]!));
      this.series.set(key, (series = new HistogramSeries(labels, this.buckets)));
    }
    return series;
  }

  reset(): void {
    this.series.clear();
  }

  /** What the registry formats for /metrics: per series its cumulative buckets, +Inf, sum and count. */
  async getForPromString() {
    const values = [];
    // Field for field prom-client's value shape, exemplar slots included (JSON scrapes compare equal).
    const value = (labels: object, shared: object, v: number, metricName: string, exemplar: null | undefined) => ({
      labels,
      sharedLabels: shared,
      value: v,
      metricName,
      exemplar,
    });
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += s.counts[i]!;
        values.push(value({ le: this.buckets[i] }, s.labels, cumulative, `${this.name}_bucket`, null));
      }
      values.push(value({ le: '+Inf' }, s.labels, s.count, `${this.name}_bucket`, null));
      values.push(value({}, s.labels, s.sum, `${this.name}_sum`, undefined));
      values.push(value({}, s.labels, s.count, `${this.name}_count`, undefined));
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The JSON form (registry.getMetricsAsJSON): the series labels merged into each value's. */
  async get() {
    const data = await this.getForPromString();
    return { ...data, values: data.values.map(({ labels, sharedLabels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })) };
  }
}

export class HistogramSeries {
  /** Observations per bucket (not cumulative); beyond the last bound they count only in `count`. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly buckets: readonly number[],
  ) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const buckets = this.buckets;
    for (let i = 0; i < buckets.length; i++) {
      if (value <= buckets[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}
