import type { TenantLimits, TenantLimitsSource } from '../ports/tenant-limits.js';
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
  constructor(
    private readonly tenants: Pick<TenantService, 'settingsOf'>,
    private readonly defaults: TenantLimits = UNLIMITED,
  ) {}

  async limitsFor(tenantId: string): Promise<TenantLimits> {
    const own = (await this.tenants.settingsOf(tenantId)).limits ?? {};
    const merged: TenantLimits = { ...this.defaults };
    for (const [k, v] of Object.entries(own) as [keyof TenantLimits, number | null][]) {
      if (v !== undefined) (merged as unknown as Record<string, number | null>)[k] = v;
    }
    return merged;
  }
}
