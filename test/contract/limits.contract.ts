/**
 * The limits ports' conformance suite (SlotCounter, RateLimiterFactory); every adapter passes it
 * unchanged. Runner: test/adapters/limits-conformance.test.ts.
 *
 * `a` and `b` are two nodes sharing one deployment's limits: a limit must hold across both, not
 * once per node. The embedded adapters are one process, so they pass the same counters twice.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimiterFactory, Release, SlotCounter } from '../../src/ports/limits.js';

export interface LimitsNode {
  slots: SlotCounter;
  rateLimiter: RateLimiterFactory;
}

export interface LimitsUnderTest {
  a: LimitsNode;
  b: LimitsNode;
  close(): Promise<void>;
}

/**
 * Waits until `node` counts `expected` slots under `k`. A Release returns nothing (fire and
 * forget), so a release sent by one node reaches the shared count a moment before another node
 * can see it; a count that never arrives fails after 2 s.
 */
async function heldSoon(node: LimitsNode, k: string, expected: number): Promise<void> {
  const until = Date.now() + 2_000;
  let held = await node.slots.held(k);
  while (held !== expected && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 10));
    held = await node.slots.held(k);
  }
  assert.equal(held, expected);
}

export function describeLimits(name: string, make: () => Promise<LimitsUnderTest>): void {
  describe(`Limits conformance: ${name}`, () => {
    let sut: LimitsUnderTest;
    before(async () => {
      sut = await make();
    });
    after(async () => sut.close());

    const key = () => `tenant-${randomUUID()}`;

    it('holds a cap of open slots across both nodes, and a released slot can be taken again from either', async () => {
      const k = key();
      const held = [await sut.a.slots.take(k, 3), await sut.b.slots.take(k, 3), await sut.a.slots.take(k, 3)];
      assert.ok(held.every((r) => typeof r === 'function'), 'three slots of three');
      assert.equal(await sut.b.slots.take(k, 3), null, 'a fourth is refused on the other node too');
      assert.equal(await sut.a.slots.take(k, 3), null);
      assert.equal(await sut.b.slots.held(k), 3);
      held[0]!();
      await heldSoon(sut.b, k, 2);
      const again = await sut.b.slots.take(k, 3);
      assert.equal(typeof again, 'function', 'the slot freed on node a is taken on node b');
      for (const r of [...held.slice(1), again]) (r as Release)();
      await heldSoon(sut.a, k, 0);
    });

    it('releasing twice frees one slot, not two', async () => {
      const k = key();
      const first = (await sut.a.slots.take(k, 2))!;
      const second = (await sut.a.slots.take(k, 2))!;
      first();
      first();
      await heldSoon(sut.b, k, 1);
      const third = await sut.b.slots.take(k, 2);
      assert.equal(typeof third, 'function');
      assert.equal(await sut.b.slots.take(k, 2), null, 'the double release did not make room for a third');
      second();
      (third as Release)();
    });

    it('counts each key on its own: one tenant at its cap leaves another untouched', async () => {
      const [full, other] = [key(), key()];
      const r = (await sut.a.slots.take(full, 1))!;
      assert.equal(await sut.b.slots.take(full, 1), null);
      const o = await sut.b.slots.take(other, 1);
      assert.equal(typeof o, 'function');
      r();
      (o as Release)();
    });

    it('admits any number when there is no cap', async () => {
      const k = key();
      const all = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? sut.a : sut.b).slots.take(k, null)));
      assert.ok(all.every((r) => typeof r === 'function'));
      for (const r of all) (r as Release)();
    });

    it('grants exactly the cap to a burst of concurrent takers on both nodes', async () => {
      const k = key();
      const all = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? sut.a : sut.b).slots.take(k, 7)));
      const granted = all.filter((r): r is Release => typeof r === 'function');
      assert.equal(granted.length, 7);
      for (const r of granted) r();
      await heldSoon(sut.a, k, 0);
    });

    it('spends one requests-per-minute budget from both nodes, per key', async () => {
      const [k, other] = [key(), key()];
      const [la, lb] = [sut.a.rateLimiter(5), sut.b.rateLimiter(5)];
      for (let i = 0; i < 3; i++) await la.consume(k);
      for (let i = 0; i < 2; i++) await lb.consume(k);
      for (const l of [la, lb]) {
        await assert.rejects(l.consume(k), (res: unknown) => {
          assert.ok(res instanceof RateLimiterRes, 'refused by the budget, not by a failure');
          assert.ok(res.msBeforeNext > 0 && res.msBeforeNext <= 60_000);
          return true;
        });
      }
      const res = await lb.consume(other);
      assert.equal(res.remainingPoints, 4, 'another key keeps its own budget');
    });
  });
}
