import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdaptiveLimit } from '../../src/providers/adaptive-limit.js';

describe('AdaptiveLimit', () => {
  it('starts at max and cuts once per round trip on 429/503, never below min', () => {
    const l = new AdaptiveLimit({ min: 2, max: 100 });
    assert.equal(l.limit, 100);
    const before = performance.now() - 1;
    // A burst of refusals from attempts that all started before the first cut: one cut.
    for (let i = 0; i < 50; i++) l.onOverload(before);
    assert.equal(l.limit, 70);
    for (let i = 0; i < 30; i++) l.onOverload(performance.now() + 1);
    assert.equal(l.limit, 2);
  });

  it('grows by about one per limit successes while saturated, and not while idle', () => {
    const l = new AdaptiveLimit({ min: 1, max: 20 });
    l.onOverload(performance.now());
    const cut = l.limit; // 14
    for (let i = 0; i < 100; i++) l.onSuccess(performance.now(), 50, false);
    assert.equal(l.limit, cut, 'no evidence of more capacity without using the limit');
    let grew = 0;
    for (let i = 0; i < cut * 3; i++) if (l.onSuccess(performance.now(), 50, true)) grew++;
    assert.ok(l.limit >= cut + 2 && l.limit <= cut + 3, `limit ${l.limit} after ${cut * 3} saturated successes from ${cut}`);
    assert.equal(grew, l.limit - cut);
    for (let i = 0; i < 10_000; i++) l.onSuccess(performance.now(), 50, true);
    assert.equal(l.limit, 20);
  });

  it('cuts when latency rises well above its long-term level (a provider queueing internally)', () => {
    const l = new AdaptiveLimit({ min: 1, max: 64 });
    for (let i = 0; i < 50; i++) l.onSuccess(performance.now(), 1_000, true);
    assert.equal(l.limit, 64);
    for (let i = 0; i < 10; i++) l.onSuccess(performance.now(), 5_000, true);
    assert.ok(l.limit < 64, `limit ${l.limit}`);
  });

  it('ignores a doubling of a few milliseconds (this process pausing, not the provider)', () => {
    const l = new AdaptiveLimit({ min: 1, max: 64 });
    for (let i = 0; i < 50; i++) l.onSuccess(performance.now(), 3, true);
    for (let i = 0; i < 20; i++) l.onSuccess(performance.now(), 40, true);
    assert.equal(l.limit, 64);
  });
});
