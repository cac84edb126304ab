import { memoized } from '../domain/weak-memo.js';
import type { TenantLimits, TenantLimitsSource } from '../ports/tenant-limits.js';
import type { StoredTenantSettings } from '../ports/tenants.js';
import type { TenantService } from './tenant-service.js';

/** No limit of any kind and an equal share of the pipeline: what a tenant gets by default. */
export const UNLIMITED: TenantLimits = {
  requestsPerMinute: null,
  maxConcurrentQueries: null,
  maxStoredBytes: null,
  maxDocuments: null,
  maxEventStreams: null,
  pipelineWeight: 1,
};

/** Each tenant's limits: what its settings set, over the server-wide defaults. */
export class SettingsLimitsSource implements TenantLimitsSource {
  /** Merged once per settings read (settings objects are replaced, never changed), not per request. */
  private readonly merged = new WeakMap<StoredTenantSettings, TenantLimits>();

  constructor(
    private readonly tenants: Pick<TenantService, 'settingsOf' | 'settingsAtHand'>,
    private readonly defaults: TenantLimits = UNLIMITED,
  ) {}

  async limitsFor(tenantId: string): Promise<TenantLimits> {
    return this.limitsIn(await this.tenants.settingsOf(tenantId));
  }

  limitsAtHand(tenantId: string): TenantLimits | undefined {
    const settings = this.tenants.settingsAtHand(tenantId);
    return settings && this.limitsIn(settings);
  }

  private limitsIn(settings: StoredTenantSettings): TenantLimits {
    // Shared by every request until the settings are read again.
    return memoized(this.merged, settings, () => {
      const merged: TenantLimits = { ...this.defaults };
      for (const [k, v] of Object.entries(settings.limits ?? {}) as [keyof TenantLimits, number | null][]) {
        if (v !== undefined) (merged as unknown as Record<string, number | null>)[k] = v;
      }
      return Object.freeze(merged);
    });
  }
}
