/**
 * Per-tenant limits and quotas. The tenant settings store (admin API) owns the values; the HTTP
 * guards and the pipeline's fair scheduler only read them through TenantLimitsSource, so either
 * side can change without the other.
 *
 * `null` means "no limit of this kind" (the server-wide default from RAGD_TENANT_* applies
 * first; see config).
 */
export interface TenantLimits {
  /** API requests per minute; beyond it 429 with Retry-After. */
  requestsPerMinute: number | null;
  /** Queries (sync, streaming and query jobs) running at once. */
  maxConcurrentQueries: number | null;
  /** Total bytes of stored documents. */
  maxStoredBytes: number | null;
  /** Number of documents across the tenant's KBs. */
  maxDocuments: number | null;
  /** Open SSE and WebSocket event streams at once. */
  maxEventStreams: number | null;
  /** Relative share of pipeline workers in fair scheduling (1 = an equal share). */
  pipelineWeight: number;
}

export interface TenantLimitsSource {
  limitsFor(tenantId: string): Promise<TenantLimits>;
  /**
   * The same limits when they are at hand without I/O (e.g. a fresh cached read), else
   * undefined: the per-request guards then decide without a promise. Never staler than limitsFor.
   */
  limitsAtHand?(tenantId: string): TenantLimits | undefined;
}
