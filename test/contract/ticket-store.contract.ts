/**
 * The TicketStore port's conformance suite, through StreamTickets as the API uses it; every
 * adapter passes it unchanged. Runner: test/adapters/ticket-store-conformance.test.ts.
 *
 * `a` and `b` are two API nodes: a ticket minted through one opens a stream through the other.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TicketStore } from '../../src/ports/ticket-store.js';
import type { Principal } from '../../src/services/auth-service.js';
import { StreamTickets } from '../../src/services/stream-tickets.js';

export interface TicketStoresUnderTest {
  a: TicketStore<Principal>;
  b: TicketStore<Principal>;
  close(): Promise<void>;
}

export function describeTicketStore(name: string, make: () => Promise<TicketStoresUnderTest>): void {
  describe(`TicketStore conformance: ${name}`, () => {
    let sut: TicketStoresUnderTest;
    before(async () => {
      sut = await make();
    });
    after(async () => sut.close());

    const principal = (): Principal => ({ kind: 'tenant', tenantId: `t-${randomUUID()}`, keyPrefix: 'ragd_abc', via: 'key' });

    it('redeems a ticket minted on one node on the other, once, with the minter\'s principal', async () => {
      const [a, b] = [new StreamTickets(sut.a), new StreamTickets(sut.b)];
      const who = principal();
      const minted = await a.mint(who);
      assert.match(minted.ticket, /^rst_/);
      assert.equal(minted.expires_in, 30);
      assert.deepEqual(await b.redeem(minted.ticket), who);
      assert.equal(await b.redeem(minted.ticket), null, 'used once');
      assert.equal(await a.redeem(minted.ticket), null, 'and gone on every node');
    });

    it('tells tickets apart, and knows no ticket it never minted', async () => {
      const [a, b] = [new StreamTickets(sut.a), new StreamTickets(sut.b)];
      const [one, two] = [principal(), principal()];
      const [t1, t2] = [await a.mint(one), await b.mint(two)];
      assert.notEqual(t1.ticket, t2.ticket);
      assert.deepEqual(await a.redeem(t2.ticket), two);
      assert.deepEqual(await b.redeem(t1.ticket), one);
      assert.equal(await a.redeem('rst_never-minted'), null);
    });

    it('forgets a ticket once its lifetime is over', async () => {
      const ticket = `rst_${randomUUID()}`;
      await sut.a.put(ticket, principal(), 100);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await sut.b.take(ticket), null);
    });

    it('gives one ticket to one of many redeemers racing for it', async () => {
      const ticket = `rst_${randomUUID()}`;
      await sut.a.put(ticket, principal(), 10_000);
      const all = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? sut.a : sut.b).take(ticket)));
      assert.equal(all.filter((p) => p !== null).length, 1);
    });
  });
}
