/** A dependency that /readyz checks: `check` throws when it is unreachable. */
export interface HealthCheck {
  name: string;
  check(): Promise<void>;
}
