import type { Pool } from 'pg';
import type { PipelineStage } from '../../../domain/types.js';
import { bullJobId, MARK_SENT, UNSENT, type PipelineRow } from './sql.js';
import { jobPriority, type TenantWeights } from './priority.js';
import type { StageQueues } from './stage-queues.js';

/**
 * The transactional outbox's relay: live `pipeline_jobs` rows not yet handed to BullMQ
 * (`enqueued_at IS NULL`) are added as BullMQ jobs, then marked sent. The row is written
 * first, in PostgreSQL's transaction (createDocument's, or a settle's), so a crash between the
 * two loses nothing: the row stays unsent and the next pass, here or in any other process, adds
 * it. Adding twice is harmless: the job id is deterministic and BullMQ keeps the first.
 *
 * Runs in every process that has the queue, on `kick()` (a local settle, notifyRunnable) and on a
 * timer (rows another process wrote and did not get to send, e.g. it died after COMMIT).
 */

interface UnsentRow extends PipelineRow {
  bytes: number;
  tenant_live: number;
}

const BATCH = 200;

export interface OutboxRelayOptions {
  /** The timer's period. Default 1 s. */
  intervalMs?: number;
  onError: (err: unknown) => void;
  /** A job of `stage` was added (local consumers may want to wake). */
  onSent?: (stage: PipelineStage) => void;
}

export class OutboxRelay {
  private current: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Rows this process has added to BullMQ (for metrics). */
  sent = 0;

  constructor(
    private readonly pool: Pool,
    private readonly queues: StageQueues,
    private readonly weights: TenantWeights,
    private readonly opts: OutboxRelayOptions,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.kick(), this.opts.intervalMs ?? 1000);
    this.timer.unref();
    void this.kick();
  }

  /**
   * Runs a pass that sees every row committed before the call: when one is already running it
   * may have read before that row, so one more follows it (and callers meanwhile share it).
   * Never rejects; errors go to onError and the timer tries again.
   */
  kick(): Promise<void> {
    if (!this.current) {
      this.current = this.pass()
        .catch(this.opts.onError)
        .finally(() => (this.current = null));
      return this.current;
    }
    this.next ??= this.current.then(() => {
      this.next = null;
      return this.kick();
    });
    return this.next;
  }

  private async pass(): Promise<void> {
    for (;;) {
      const rows = (await this.pool.query<UnsentRow>(UNSENT, [BATCH])).rows;
      if (rows.length === 0) return;
      await this.send(rows);
      if (rows.length < BATCH) return;
    }
  }

  private async send(rows: UnsentRow[]): Promise<void> {
    const byStage = new Map<PipelineStage, UnsentRow[]>();
    for (const r of rows) byStage.set(r.stage, [...(byStage.get(r.stage) ?? []), r]);
    const now = Date.now();
    for (const [stage, group] of byStage) {
      const jobs = await Promise.all(
        group.map(async (r) => ({
          name: stage,
          data: { documentId: r.document_id, stage, generation: r.generation },
          opts: {
            jobId: bullJobId(r),
            priority: jobPriority({ bytes: r.bytes, tenantLive: r.tenant_live, weight: await this.weights.weightOf(r.tenant_id), requested: r.priority }),
            delay: r.due_at ? Math.max(0, Date.parse(r.due_at) - now) : 0,
            // Settled jobs leave Redis at once: PostgreSQL keeps what matters (buried rows,
            // last errors), and a freed id could never be confused with a live job anyway.
            removeOnComplete: true,
            removeOnFail: true,
          },
        })),
      );
      await this.queues.queue(stage).addBulk(jobs);
      await this.pool.query(MARK_SENT, [group.map((r) => r.document_id), group.map((r) => r.generation)]);
      this.sent += group.length;
      for (let i = 0; i < group.length; i++) this.opts.onSent?.(stage);
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.next;
    await this.current;
  }
}
