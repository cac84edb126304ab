import { Gauge, type Registry } from 'prom-client';

/**
 * A gauge with one label, read at scrape time from each named source (`pool="ingest"`,
 * `gate="query"` …), so nothing has to push updates on the hot path.
 */
export function labelledGauge<S>(
  registry: Registry,
  label: string,
  sources: readonly (readonly [string, { stats(): S }])[],
  name: string,
  help: string,
  read: (stats: S) => number,
): Gauge {
  return new Gauge({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      for (const [value, source] of sources) this.set({ [label]: value }, read(source.stats()));
    },
  });
}
