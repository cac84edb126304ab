import { randomBytes } from 'node:crypto';
import type { Principal } from './auth-service.js';

/** How long a ticket can wait to be used: long enough to open a socket, too short to be worth stealing. */
export const TICKET_TTL_MS = 30_000;
/** Unredeemed tickets kept at most; past it the oldest are dropped (a client minting in a loop cannot grow memory). */
const MAX_OPEN_TICKETS = 10_000;

/**
 * Single-use, short-lived tickets that stand in for the `Authorization` header where browsers
 * cannot send one: `EventSource` and `WebSocket`. A ticket is minted by an authenticated call and
 * carries that call's principal, so it opens exactly what its minter's credentials open (the same
 * tenant, never another), once, within TICKET_TTL_MS. It never leaves this process: in a cluster,
 * the socket must reach the node that minted it (or the client mints again on a miss).
 */
export class StreamTickets {
  private readonly open = new Map<string, { principal: Principal; expiresAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  mint(principal: Principal): { ticket: string; expires_in: number } {
    this.sweep();
    if (this.open.size >= MAX_OPEN_TICKETS) this.open.delete(this.open.keys().next().value!);
    const ticket = `rst_${randomBytes(24).toString('base64url')}`;
    this.open.set(ticket, { principal, expiresAt: this.now() + TICKET_TTL_MS });
    return { ticket, expires_in: Math.round(TICKET_TTL_MS / 1000) };
  }

  /** The minter's principal, once: the ticket is gone after this call, whatever it returns. */
  redeem(ticket: string): Principal | null {
    const entry = this.open.get(ticket);
    if (!entry) return null;
    this.open.delete(ticket);
    return entry.expiresAt > this.now() ? entry.principal : null;
  }

  private sweep(): void {
    const now = this.now();
    // Insertion order is expiry order: stop at the first live one.
    for (const [ticket, entry] of this.open) {
      if (entry.expiresAt > now) break;
      this.open.delete(ticket);
    }
  }
}
