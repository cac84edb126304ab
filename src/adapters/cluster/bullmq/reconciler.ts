import type { Pool } from 'pg';
import type { PipelineStage } from '../../../domain/types.js';
import { bullJobId, SENT_ROWS, STALE_UNSENT, UNSEND } from './sql.js';
import type { OutboxRelay } from './outbox-relay.js';
import type { StageQueues } from './stage-queues.js';

/**
 * Makes Redis agree with PostgreSQL again. PostgreSQL records which documents have a stage to
 * run; BullMQ may have lost their jobs (Redis restarted empty, flushed, evicted). Every period,
 * one process (a PostgreSQL advisory lock decides which) walks the rows it believes were handed
 * to BullMQ, and any whose job no longer exists is marked unsent; rows unsent for too long (their
 * relay died between COMMIT and add) are simply due too. Then the relay adds them all again.
 */

/** Any fixed 64-bit number: names the reconciler's lock among the database's advisory locks. */
const RECONCILER_LOCK = 7_240_118_004;

export interface ReconcilerOptions {
  /** Period between passes. Default 30 s. */
  intervalMs?: number;
  /** A row is judged only once it has been sent (or unsent) at least this long. Default 5 s. */
  graceMs?: number;
  /** Epoch ms now (tests move it on instead of waiting out the grace). Default Date.now. */
  clock?: () => number;
  onError: (err: unknown) => void;
}

/** What the reconciler did, since the process started: for metrics. */
export interface ReconcilerCounters {
  passes: number;
  /** Rows whose BullMQ job was gone, handed to the relay again. */
  readded: number;
  /** Rows left unsent past the grace period, sent by a pass. */
  resent: number;
}

export class Reconciler {
  readonly counters: ReconcilerCounters = { passes: 0, readded: 0, resent: 0 };
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<boolean> | null = null;
  private next: Promise<boolean> | null = null;

  constructor(
    private readonly pool: Pool,
    private readonly queues: StageQueues,
    private readonly relay: OutboxRelay,
    private readonly opts: ReconcilerOptions,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.runOnce().catch(this.opts.onError), this.opts.intervalMs ?? 30_000);
    this.timer.unref();
  }

  /**
   * A pass that starts after this call (one under way may have judged before what the caller
   * wants judged, so one more follows it, shared by the callers meanwhile); false when another
   * process held the lock and this one did nothing.
   */
  runOnce(): Promise<boolean> {
    if (!this.running) {
      this.running = this.locked().finally(() => (this.running = null));
      return this.running;
    }
    this.next ??= this.running
      .catch(() => {})
      .then(() => {
        this.next = null;
        return this.runOnce();
      });
    return this.next;
  }

  private async locked(): Promise<boolean> {
    const client = await this.pool.connect();
    try {
      const got = (await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [RECONCILER_LOCK])).rows[0]!.ok;
      if (!got) return false;
      try {
        await this.pass(client);
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [RECONCILER_LOCK]);
      }
      return true;
    } finally {
      client.release();
    }
  }

  private async pass(client: { query: Pool['query'] }): Promise<void> {
    const cutoff = (this.opts.clock ?? Date.now)() - (this.opts.graceMs ?? 5000);
    const sent = (await client.query<{ document_id: string; stage: PipelineStage; generation: number }>(SENT_ROWS, [cutoff])).rows;
    const missing: typeof sent = [];
    for (let i = 0; i < sent.length; i += 100) {
      const slice = sent.slice(i, i + 100);
      const states = await Promise.all(slice.map((r) => this.queues.queue(r.stage).getJobState(bullJobId(r))));
      slice.forEach((r, j) => {
        if (states[j] === 'unknown') missing.push(r);
      });
    }
    if (missing.length > 0) {
      const res = await client.query(UNSEND, [missing.map((r) => r.document_id), missing.map((r) => r.generation)]);
      this.counters.readded += res.rowCount ?? 0;
    }
    this.counters.resent += (await client.query<{ n: number }>(STALE_UNSENT, [cutoff])).rows[0]!.n;
    this.counters.passes++;
    await this.relay.kick();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.next?.catch(() => {});
    await this.running?.catch(() => {});
  }
}
