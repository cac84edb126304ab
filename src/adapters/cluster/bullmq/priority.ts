import type { TenantLimitsSource } from '../../../ports/tenant-limits.js';

/**
 * The BullMQ priority of a stage job (1 runs first). BullMQ's free edition has no groups, so
 * fairness between tenants is folded into this one number, fixed when the job is added:
 *
 * - Interactive work goes ahead of bulk: a small document of a tenant with almost nothing else
 *   in the pipeline (someone uploading one file and waiting for it) is in the band below 1000;
 *   everything else is bulk, 1000 and up.
 * - Within a band, a tenant's job ranks by how much of the pipeline that tenant occupies right
 *   now (its live `pipeline_jobs` rows, divided by its pipelineWeight). A tenant with 5,000
 *   documents queued adds its jobs behind a tenant with 3, so the small one is not stuck behind
 *   the big one's backlog; as the backlog drains, the big tenant's new jobs climb back up. With
 *   nobody else waiting, the big tenant runs at full speed: priorities only order, never throttle.
 *
 * Deliberately simple: one count per relay pass, no per-tenant counters to keep right in Redis
 * (which may restart empty). The cost: a job keeps the priority it was added with, so a tenant's
 * share is judged when each stage is handed on, not continuously; with stages of seconds that is
 * close enough, and every stage re-judges it.
 */

/** A document up to this size, alone in its tenant's pipeline, is someone waiting at the screen. */
export const INTERACTIVE_MAX_BYTES = 1024 * 1024;
/** "Alone": at most this many live rows for the tenant (a couple of files dropped together). */
export const INTERACTIVE_MAX_LIVE = 3;
const BULK_BASE = 1000;
/** BullMQ's highest usable priority is 2^21. */
const MAX_PRIORITY = 2 ** 21;

export interface PriorityInputs {
  bytes: number;
  /** The tenant's live pipeline rows (queued or running), this one included. */
  tenantLive: number;
  /** The tenant's pipelineWeight (1 = an equal share). */
  weight: number;
  /** An explicit NewJob.priority below the default (100) also marks a job interactive. */
  requested: number;
}

export function jobPriority(p: PriorityInputs): number {
  const weight = Number.isFinite(p.weight) && p.weight > 0 ? p.weight : 1;
  const share = Math.floor(Math.max(0, p.tenantLive - 1) / weight);
  const interactive = p.requested < 100 || (p.bytes <= INTERACTIVE_MAX_BYTES && p.tenantLive <= INTERACTIVE_MAX_LIVE);
  return interactive ? 1 + Math.min(share, BULK_BASE - 2) : Math.min(BULK_BASE + share, MAX_PRIORITY);
}

/**
 * Tenant weights, read through the limits source and cached for `refreshMs`: a relay pass never
 * waits on a slow source more than once per tenant per period, and a failing source counts as 1.
 */
export class TenantWeights {
  private readonly cache = new Map<string, { weight: number; at: number }>();

  constructor(
    private readonly source: TenantLimitsSource | undefined,
    private readonly refreshMs = 10_000,
  ) {}

  async weightOf(tenantId: string): Promise<number> {
    if (!this.source) return 1;
    const hit = this.cache.get(tenantId);
    if (hit && Date.now() - hit.at < this.refreshMs) return hit.weight;
    let weight = hit?.weight ?? 1;
    try {
      weight = (await this.source.limitsFor(tenantId)).pipelineWeight;
    } catch {
      // Keep the previous weight (or 1) until the next refresh.
    }
    this.cache.set(tenantId, { weight, at: Date.now() });
    return weight;
  }
}
