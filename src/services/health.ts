/**
 * A dependency that /readyz checks: `check` throws when it is unreachable. It may instead report
 * `{ degraded }`: the server still serves, with less (PostgreSQL without pgvector answers no vector
 * search), and /readyz stays ready but says so, since restarting would change nothing.
 */
export interface HealthCheck {
  name: string;
  check(): Promise<void | { degraded: string }>;
  /** How /readyz describes a failed check (default "unreachable"); it must name no host or secret. */
  failure?: string;
}
