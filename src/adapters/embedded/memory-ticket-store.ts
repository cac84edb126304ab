import type { TicketStore } from '../../ports/ticket-store.js';

/** Unredeemed tickets kept at most; past it the oldest are dropped (a client minting in a loop cannot grow memory). */
const MAX_OPEN_TICKETS = 10_000;

/** The embedded TicketStore: a Map in insertion (= expiry, one TTL for all) order, swept as it grows. */
export class MemoryTicketStore<T> implements TicketStore<T> {
  private readonly open = new Map<string, { value: T; expiresAt: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxOpen = MAX_OPEN_TICKETS,
  ) {}

  put(ticket: string, value: T, ttlMs: number): void {
    this.sweep();
    if (this.open.size >= this.maxOpen) this.open.delete(this.open.keys().next().value!);
    this.open.set(ticket, { value, expiresAt: this.now() + ttlMs });
  }

  take(ticket: string): T | null {
    const entry = this.open.get(ticket);
    if (!entry) return null;
    this.open.delete(ticket);
    return entry.expiresAt > this.now() ? entry.value : null;
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
