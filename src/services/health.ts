/** A dependency that /readyz checks: `check` throws when it is unreachable. */
export interface HealthCheck {
  name: string;
  check(): Promise<void>;
  /** How /readyz describes a failed check (default "unreachable"); it must name no host or secret. */
  failure?: string;
}
