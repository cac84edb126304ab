import type { TenantLimitDefaults } from '../../config/config.js';
import type { TenantLimits, TenantLimitsSource } from '../../ports/tenant-limits.js';

/**
 * The same limits for every tenant: the server-wide defaults from RAGD_TENANT_* (unset =
 * unlimited), every tenant weighing 1 in the pipeline. Per-tenant settings replace this source;
 * nothing that enforces limits knows which one it reads.
 */
export class ServerDefaultLimits implements TenantLimitsSource {
  private readonly limits: TenantLimits;

  constructor(defaults: TenantLimitDefaults) {
    this.limits = Object.freeze({ ...defaults, pipelineWeight: 1 });
  }

  async limitsFor(_tenantId: string): Promise<TenantLimits> {
    return this.limits;
  }

  limitsAtHand(_tenantId: string): TenantLimits {
    return this.limits;
  }
}
