/**
 * The cluster queue's metrics (src/observability/metrics/pipeline.ts): depth by stage and state
 * read at scrape time, and the queue's own tallies mirrored as counters that only grow.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { BullmqJobQueue } from '../../src/adapters/cluster/bullmq/bullmq-job-queue.js';
import { STAGES } from '../../src/domain/types.js';
import { registerPipelineMetrics, type ClusterQueueMetrics } from '../../src/observability/metrics/pipeline.js';

const zero = { waiting: 0, active: 0, failed: 0 };

/** The cluster queue is what the composition root passes as `clusterQueue` (checked by tsc). */
export type QueueFitsMetrics = BullmqJobQueue extends ClusterQueueMetrics ? true : never;
const fits: QueueFitsMetrics = true;

describe('cluster queue metrics', () => {
  it('takes the BullMQ queue as its source', () => assert.equal(fits, true));

  it('reports depth by stage and state and counts takeovers, fence rejections and reconciler actions', async () => {
    const tally = { stalledTakeovers: 2, fenceRejections: 1, readded: 0, resent: 0, staleSkipped: 0 };
    const clusterQueue: ClusterQueueMetrics = {
      depth: async () =>
        Object.fromEntries(STAGES.map((s) => [s, { waiting: s === 'embed' ? 4 : 0, prioritized: s === 'embed' ? 7 : 0, active: 1, delayed: 2, failed: 3 }])),
      counters: () => tally,
    };
    const registry = new Registry();
    registerPipelineMetrics(registry, {
      store: { documentCounts: async () => ({}) as never },
      queue: { counts: async () => Object.fromEntries(STAGES.map((s) => [s, zero])) as never },
      clusterQueue,
    });
    const first = await registry.metrics();
    assert.match(first, /ragd_pipeline_queue_jobs\{stage="embed",state="prioritized"\} 7/);
    assert.match(first, /ragd_pipeline_queue_jobs\{stage="embed",state="waiting"\} 4/);
    assert.match(first, /ragd_pipeline_queue_jobs\{stage="parse",state="delayed"\} 2/);
    assert.match(first, /ragd_pipeline_queue_jobs\{stage="index",state="failed"\} 3/);
    assert.match(first, /ragd_pipeline_stalled_takeovers_total 2/);
    assert.match(first, /ragd_pipeline_fence_rejections_total 1/);
    assert.match(first, /ragd_pipeline_reconciler_readded_total 0/);
    tally.readded = 5;
    tally.stalledTakeovers = 3;
    const second = await registry.metrics();
    assert.match(second, /ragd_pipeline_reconciler_readded_total 5/);
    assert.match(second, /ragd_pipeline_stalled_takeovers_total 3/);
  });
});
