/**
 * Where single-use, short-lived tickets wait to be redeemed (the stream tickets that stand in for
 * an Authorization header on EventSource and WebSocket). Embedded: this process's memory.
 * Cluster: Redis, so a ticket minted through one API node opens a stream on another. Values are
 * plain data (JSON-safe). A cluster store that cannot reach Redis in time rejects with AppError
 * 503 `shared_state_unavailable`.
 */
export interface TicketStore<T> {
  /** Keeps `value` under `ticket` for `ttlMs`. */
  put(ticket: string, value: T, ttlMs: number): void | Promise<void>;
  /** The value, once: the ticket is gone after this call whatever it returns; null when unknown or expired. */
  take(ticket: string): T | null | Promise<T | null>;
}
