/**
 * The cluster queue's job priorities (src/adapters/cluster/bullmq/priority.ts): interactive work
 * ahead of bulk, and within each, a tenant occupying less of the pipeline ahead of one
 * occupying more, scaled by the tenant's pipelineWeight.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INTERACTIVE_MAX_BYTES, jobPriority, TenantWeights } from '../../src/adapters/cluster/bullmq/priority.js';

const p = (o: Partial<Parameters<typeof jobPriority>[0]>) => jobPriority({ bytes: 1000, tenantLive: 1, weight: 1, requested: 100, ...o });

describe('cluster job priority', () => {
  it('a single small upload runs ahead of any bulk work', () => {
    const single = p({});
    assert.ok(single < p({ bytes: INTERACTIVE_MAX_BYTES + 1 }), 'a large file is bulk');
    assert.ok(single < p({ tenantLive: 50 }), 'many files of one tenant are bulk');
    assert.ok(p({ tenantLive: 3 }) < p({ tenantLive: 4, bytes: 10 }), 'a few files together are still interactive');
    assert.ok(p({ requested: 10, tenantLive: 500 }) < p({ tenantLive: 4 }), 'an explicitly urgent job is interactive');
  });

  it('among bulk work, the tenant with less in the pipeline goes first, and weight buys a larger share', () => {
    const big = p({ tenantLive: 5000 });
    const small = p({ tenantLive: 20 });
    assert.ok(small < big);
    assert.ok(p({ tenantLive: 5000, weight: 4 }) < big, 'a heavier tenant counts its backlog as less');
    assert.equal(p({ tenantLive: 41, weight: 2 }), p({ tenantLive: 21, weight: 1 }), 'weight 2 counts twice the jobs as one share');
  });

  it('stays inside BullMQ’s priority range, whatever the inputs', () => {
    for (const o of [{ tenantLive: 1e12 }, { weight: 0 }, { weight: Number.NaN, tenantLive: 10 }, { weight: -3 }, { tenantLive: 0 }]) {
      const v = p(o);
      assert.ok(Number.isInteger(v) && v >= 1 && v <= 2 ** 21, `${JSON.stringify(o)} → ${v}`);
    }
  });

  it('reads tenant weights through the limits source, cached, and counts a failing source as 1', async () => {
    let reads = 0;
    const weights = new TenantWeights({
      limitsFor: async (t) => {
        reads++;
        if (t === 'broken') throw new Error('down');
        return { pipelineWeight: 3 } as never;
      },
    });
    assert.equal(await weights.weightOf('a'), 3);
    assert.equal(await weights.weightOf('a'), 3);
    assert.equal(reads, 1);
    assert.equal(await weights.weightOf('broken'), 1);
    assert.equal(await new TenantWeights(undefined).weightOf('a'), 1);
  });
});
