import { randomBytes } from 'node:crypto';
import { MemoryTicketStore } from '../adapters/embedded/memory-ticket-store.js';
import type { TicketStore } from '../ports/ticket-store.js';
import type { Principal } from './auth-service.js';

/** How long a ticket can wait to be used: long enough to open a socket, too short to be worth stealing. */
export const TICKET_TTL_MS = 30_000;

/**
 * Single-use, short-lived tickets that stand in for the `Authorization` header where browsers
 * cannot send one: `EventSource` and `WebSocket`. A ticket is minted by an authenticated call and
 * carries that call's principal, so it opens exactly what its minter's credentials open (the same
 * tenant, never another), once, within TICKET_TTL_MS. Tickets wait in a TicketStore: this
 * process's memory by default; in a cluster a store every API node shares, so the stream may
 * open on another node than the one that minted it.
 */
export class StreamTickets {
  constructor(private readonly store: TicketStore<Principal> = new MemoryTicketStore()) {}

  async mint(principal: Principal): Promise<{ ticket: string; expires_in: number }> {
    const ticket = `rst_${randomBytes(24).toString('base64url')}`;
    await this.store.put(ticket, principal, TICKET_TTL_MS);
    return { ticket, expires_in: Math.round(TICKET_TTL_MS / 1000) };
  }

  /** The minter's principal, once: the ticket is gone after this call, whatever it returns. */
  redeem(ticket: string): Principal | null | Promise<Principal | null> {
    return this.store.take(ticket);
  }
}
