import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { LATENCY_BUCKETS } from '../../src/observability/metrics/latency.js';
import { SeriesHistogram } from '../../src/observability/metrics/series-histogram.js';

const OBSERVATIONS: [method: string, route: string, status: string, seconds: number][] = [
  ['POST', '/v1/kbs/:kb/query', '200', 0.0004],
  ['POST', '/v1/kbs/:kb/query', '200', 0.001],
  ['POST', '/v1/kbs/:kb/query', '200', 0.0123],
  ['GET', '/healthz', '200', 0.0002],
  ['POST', '/v1/kbs/:kb/query', '429', 3],
  ['POST', '/v1/kbs/:kb/query', '200', 500],
  ['GET', 'unmatched', '404', 0],
];

describe('SeriesHistogram', () => {
  it('scrapes exactly like a prom-client Histogram given the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const labelNames = ['method', 'route', 'status_code'] as const;
    const fast = new SeriesHistogram(ours, 'h_seconds', 'help "text"\\', labelNames, LATENCY_BUCKETS);
    const reference = new Histogram({ name: 'h_seconds', help: 'help "text"\\', labelNames, buckets: LATENCY_BUCKETS, registers: [theirs] });
    for (const [method, route, status, seconds] of OBSERVATIONS) {
      fast.seriesOf(method, route, status).observe(seconds);
      reference.observe({ method, route, status_code: status }, seconds);
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
    assert.deepEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
    fast.reset();
    reference.reset();
    assert.equal(await ours.metrics(), await theirs.metrics(), 'and after a reset');
  });

  it('refuses a value that is not a finite number, as prom-client does', () => {
    const h = new SeriesHistogram(new Registry(), 'x_seconds', 'x', ['phase'], LATENCY_BUCKETS);
    assert.throws(() => h.seriesOf('total').observe(Number.NaN), TypeError);
  });
});
